import Scenarios
import Testing

/// Parses YAML text as a scenario file named `name` (relative paths resolve against `directory`).
func parseScenario(_ text: String, name: String = "test.yaml", directory: String = "/nonexistent") throws(ScenarioErrors)
    -> ScenarioFile
{
    let root: YAMLNode
    do {
        root = try YAMLSource(text: text, path: name, directory: directory).root()
    } catch {
        throw ScenarioErrors([error])
    }
    return try ScenarioFile(yaml: root)
}

/// The errors parsing `text` gives (none if it parses).
func scenarioErrors(_ text: String, directory: String = "/nonexistent") -> [ScenarioError] {
    do {
        _ = try parseScenario(text, directory: directory)
        return []
    } catch {
        return error.errors
    }
}

/// The single error parsing `text` gives.
func scenarioError(_ text: String, directory: String = "/nonexistent", sourceLocation: SourceLocation = #_sourceLocation)
    throws -> ScenarioError
{
    let errors = scenarioErrors(text, directory: directory)
    #expect(errors.count == 1, "expected one error, got \(errors)", sourceLocation: sourceLocation)
    return try #require(errors.first, sourceLocation: sourceLocation)
}

/// A minimal valid header: inline control files only.
let minimalConfig = """
    config:
      control_files: {me: mx.example.net, rcpthosts: example.com}
    connections:

    """
