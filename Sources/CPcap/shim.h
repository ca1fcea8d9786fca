#ifndef RELAYLAB_CPCAP_SHIM_H
#define RELAYLAB_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif
