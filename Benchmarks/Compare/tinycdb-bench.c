/* The same lookups as `relaylab bench cdb FILE --keys KEYS --lookups N`, made with tinycdb's C
 * library (cdb_find), to compare on one machine without package-benchmark.
 *
 *   cc -O2 -o /tmp/tinycdb-bench Benchmarks/Compare/tinycdb-bench.c -lcdb
 *   /tmp/tinycdb-bench FILE KEYS [N]
 *
 * KEYS: one key per line (empty lines skipped, a trailing CR dropped), used in order, cycled.
 * Prints lookups, seconds, lookups per second, ns per lookup, hits and misses. */
#define _POSIX_C_SOURCE 200809L
#include <cdb.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tinycdb-bench FILE KEYS [LOOKUPS]\n");
        return 2;
    }
    long lookups = argc > 3 ? atol(argv[3]) : 10000000L;
    int fd = open(argv[1], O_RDONLY);
    struct cdb db;
    if (fd < 0 || cdb_init(&db, fd) != 0) {
        perror(argv[1]);
        return 2;
    }
    FILE *kf = fopen(argv[2], "r");
    if (!kf) {
        perror(argv[2]);
        return 2;
    }
    size_t cap = 1024, count = 0;
    char **keys = malloc(cap * sizeof *keys);
    unsigned *lens = malloc(cap * sizeof *lens);
    char *line = NULL;
    size_t linecap = 0;
    ssize_t n;
    while ((n = getline(&line, &linecap, kf)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') n--;
        if (n > 0 && line[n - 1] == '\r') n--;
        if (n == 0) continue;
        if (count == cap) {
            cap *= 2;
            keys = realloc(keys, cap * sizeof *keys);
            lens = realloc(lens, cap * sizeof *lens);
        }
        keys[count] = malloc((size_t)n);
        memcpy(keys[count], line, (size_t)n);
        lens[count] = (unsigned)n;
        count++;
    }
    if (count == 0) {
        fprintf(stderr, "%s: no keys\n", argv[2]);
        return 2;
    }
    /* Warm-up: one pass (at most 200000 lookups), as relaylab bench does. */
    long hits = 0;
    for (size_t i = 0; i < count && i < 200000; i++) hits += cdb_find(&db, keys[i], lens[i]) > 0;
    hits = 0;
    size_t k = 0;
    double start = now();
    for (long i = 0; i < lookups; i++) {
        if (cdb_find(&db, keys[k], lens[k]) > 0) hits++;
        if (++k == count) k = 0;
    }
    double seconds = now() - start;
    printf("{\"tool\": \"tinycdb cdb_find\", \"lookups\": %ld, \"seconds\": %.6f, \"lookups_per_second\": %.0f, "
           "\"ns_per_lookup\": %.1f, \"hits\": %ld, \"misses\": %ld}\n",
           lookups, seconds, lookups / seconds, seconds * 1e9 / lookups, hits, lookups - hits);
    return 0;
}
