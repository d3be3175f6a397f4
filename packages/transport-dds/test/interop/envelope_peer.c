// SPDX-License-Identifier: Apache-2.0
// A plain C DDS application for the interop test, built by the test from this file and idlc's output for
// native/envelope.idl. It reads ecps::dds::Envelope samples from one topic, prints each one as a line of JSON-ish
// fields (so the test sees exactly what C decoded), and answers with an envelope of its own on another topic:
// source "urn:ecps:c-peer", id "c-" + id, the same type and time, the extensions plus ("peer", "c"), the data reversed.
//   envelope_peer <domain> <in topic> <out topic> <count>
// It prints "ready" once its endpoints exist, and exits after <count> answers.
#include <dds/dds.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "envelope.h"

static void print_escaped(const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s <domain> <in topic> <out topic> <count>\n", argv[0]);
    return 2;
  }
  const dds_domainid_t domain = (dds_domainid_t)atoi(argv[1]);
  const int count = atoi(argv[4]);
  dds_entity_t participant = dds_create_participant(domain, NULL, NULL);
  if (participant < 0) {
    fprintf(stderr, "dds_create_participant: %s\n", dds_strretcode(participant));
    return 1;
  }
  dds_entity_t in = dds_create_topic(participant, &ecps_dds_Envelope_desc, argv[2], NULL, NULL);
  dds_entity_t out = dds_create_topic(participant, &ecps_dds_Envelope_desc, argv[3], NULL, NULL);
  dds_qos_t *qos = dds_create_qos();
  dds_qset_reliability(qos, DDS_RELIABILITY_RELIABLE, DDS_SECS(10));
  dds_qset_durability(qos, DDS_DURABILITY_TRANSIENT_LOCAL);
  dds_qset_history(qos, DDS_HISTORY_KEEP_ALL, 0);
  dds_entity_t reader = dds_create_reader(participant, in, qos, NULL);
  dds_entity_t writer = dds_create_writer(participant, out, qos, NULL);
  dds_delete_qos(qos);
  if (in < 0 || out < 0 || reader < 0 || writer < 0) {
    fprintf(stderr, "cannot create the endpoints\n");
    return 1;
  }
  dds_entity_t waitset = dds_create_waitset(participant);
  dds_entity_t condition = dds_create_readcondition(reader, DDS_ANY_STATE);
  dds_waitset_attach(waitset, condition, 0);
  printf("ready\n");
  fflush(stdout);

  int answered = 0;
  while (answered < count) {
    if (dds_waitset_wait(waitset, NULL, 0, DDS_SECS(30)) <= 0) {
      fprintf(stderr, "no envelope within 30 s\n");
      return 1;
    }
    void *samples[1] = { NULL };
    dds_sample_info_t info[1];
    while (dds_take(reader, samples, info, 1, 1) > 0) {
      if (info[0].valid_data) {
        const ecps_dds_Envelope *e = samples[0];
        printf("{\"source\":\"");
        print_escaped(e->source);
        printf("\",\"id\":\"");
        print_escaped(e->id);
        printf("\",\"type\":\"");
        print_escaped(e->type);
        printf("\",\"time\":\"");
        print_escaped(e->time);
        printf("\",\"extensions\":{");
        for (uint32_t i = 0; i < e->extensions._length; i++) {
          printf("%s\"", i ? "," : "");
          print_escaped(e->extensions._buffer[i].key);
          printf("\":\"");
          print_escaped(e->extensions._buffer[i].value);
          printf("\"");
        }
        printf("},\"data\":\"");
        for (uint32_t i = 0; i < e->data._length; i++) printf("%02x", e->data._buffer[i]);
        printf("\"}\n");
        fflush(stdout);

        char id[512];
        snprintf(id, sizeof id, "c-%s", e->id);
        const uint32_t n = e->extensions._length;
        ecps_dds_KeyValue *ext = calloc(n + 1, sizeof *ext);
        for (uint32_t i = 0; i < n; i++) ext[i] = e->extensions._buffer[i];
        ext[n].key = "peer";
        ext[n].value = "c";
        uint8_t *data = malloc(e->data._length ? e->data._length : 1);
        for (uint32_t i = 0; i < e->data._length; i++) data[i] = e->data._buffer[e->data._length - 1 - i];
        ecps_dds_Envelope reply = {
          .source = "urn:ecps:c-peer",
          .id = id,
          .type = e->type,
          .time = e->time,
          .extensions = { ._maximum = n + 1, ._length = n + 1, ._buffer = ext, ._release = false },
          .data = { ._maximum = e->data._length, ._length = e->data._length, ._buffer = data, ._release = false },
        };
        dds_return_t rc = dds_write(writer, &reply);
        free(ext);
        free(data);
        if (rc < 0) {
          fprintf(stderr, "dds_write: %s\n", dds_strretcode(rc));
          return 1;
        }
        answered++;
      }
      dds_return_loan(reader, samples, 1);
    }
  }
  // let the reliable answers be acknowledged before the participant goes
  dds_wait_for_acks(writer, DDS_SECS(5));
  dds_delete(participant);
  return 0;
}
