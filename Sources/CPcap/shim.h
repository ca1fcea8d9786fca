#ifndef RELAYLAB_CPCAP_SHIM_H
#define RELAYLAB_CPCAP_SHIM_H
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opens a capture held in memory (the bytes must stay alive until pcap_close), with
   nanosecond timestamps. On failure returns NULL with the reason in errbuf. */
static inline pcap_t *relaylab_pcap_open_memory(const void *bytes, size_t count, char *errbuf) {
    if (count == 0) {
        snprintf(errbuf, PCAP_ERRBUF_SIZE, "empty capture");
        return NULL;
    }
    FILE *file = fmemopen((void *)bytes, count, "rb");
    if (file == NULL) {
        snprintf(errbuf, PCAP_ERRBUF_SIZE, "fmemopen failed");
        return NULL;
    }
    pcap_t *handle = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (handle == NULL) fclose(file);
    return handle;
}

/* The current read position in the capture file, or -1 when it is not seekable (stdin). */
static inline long relaylab_pcap_offset(pcap_t *handle) {
    FILE *file = pcap_file(handle);
    return file == NULL ? -1 : ftell(file);
}

/* Compiles and installs a BPF filter; returns 0 or -1 (message in pcap_geterr). */
static inline int relaylab_pcap_set_filter(pcap_t *handle, const char *expression) {
    struct bpf_program program;
    if (pcap_compile(handle, &program, expression, 1, PCAP_NETMASK_UNKNOWN) != 0) return -1;
    int status = pcap_setfilter(handle, &program);
    pcap_freecode(&program);
    return status;
}
#endif
