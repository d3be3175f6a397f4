// SPDX-License-Identifier: Apache-2.0
// The thin native layer of @ecps/transport-dds: participants, topics, publishers/subscribers, writers, readers, QoS,
// and samples in and out as XCDR bytes. Everything else (topic names, QoS choice, events, RPC) is TypeScript.
//
// Receiving: each reader has a Cyclone listener. On DATA_AVAILABLE it sets the reader's `signalled` flag and, only
// when the flag was clear, queues one notification to the JavaScript thread through a thread-safe function. The
// JavaScript side clears the flag when it takes (take() does), so a burst costs one notification, never one per
// sample, and nothing blocks the event loop. Samples stay in the reader's history (bounded by its QoS) until
// JavaScript takes them; each take copies the serialized samples into one Buffer and returns the loans at once.
//
// Writing: JavaScript hands over a sample in XCDR1 little-endian form; we point the idlc-generated struct into that
// buffer (no copy) and call dds_write, which serializes it. writeBatch does this for many samples in one call. A full writer history returns DDS_RETCODE_TIMEOUT
// (max_blocking_time is whatever the QoS says, 0 by default from TypeScript) instead of blocking; JavaScript then
// parks the write and waitForAcksAsync waits on a libuv worker thread for the readers' acknowledgements.
#define NAPI_VERSION 8
#include <node_api.h>
#include <dds/dds.h>
#include <dds/version.h>
#include <dds/ddsi/ddsi_serdata.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "envelope.h"
#include "keyedseq.h"

#define MAX_TAKE 256
#define MAX_EXTENSIONS 64
#define MAX_PARTITIONS 16

enum sample_type { TYPE_ENVELOPE = 0, TYPE_KEYEDSEQ = 1, TYPE_COUNT = 2 };
static const dds_topic_descriptor_t *const descriptors[TYPE_COUNT] = { &ecps_dds_Envelope_desc, &KeyedSeq_desc };

// Events relayed to JavaScript: (entity handle, kind, value) packed into the thread-safe call's data pointer.
enum event_kind { EV_DATA = 1, EV_REQUESTED_INCOMPATIBLE_QOS = 2, EV_OFFERED_INCOMPATIBLE_QOS = 3, EV_SAMPLE_LOST = 4 };

typedef struct participant_ctx {
  dds_entity_t participant;
  napi_threadsafe_function tsfn;
  bool released;
} participant_ctx;

typedef struct reader_ctx {
  atomic_bool signalled;
  dds_entity_t reader;
  napi_threadsafe_function tsfn;
} reader_ctx;

// ---------------------------------------------------------------- errors and argument helpers

#define CHECK(call)                                                  \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      napi_throw_error(env, "ERR_NAPI", "N-API call failed: " #call); \
      return NULL;                                                   \
    }                                                                \
  } while (0)

static napi_value throw_dds(napi_env env, const char *what, dds_return_t rc) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, dds_strretcode(rc));
  char code[32];
  snprintf(code, sizeof code, "DDS_RETCODE_%d", (int)-rc);
  napi_throw_error(env, code, message);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG", message);
  return NULL;
}

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "missing arguments");
    return false;
  }
  return true;
}

static bool get_i32(napi_env env, napi_value v, int32_t *out) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "expected a number");
    return false;
  }
  return true;
}

static bool get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    napi_value buffer;
    size_t offset;
    void *p;
    if (napi_get_typedarray_info(env, v, &type, len, &p, &buffer, &offset) != napi_ok || type != napi_uint8_array) goto bad;
    *data = p;
    return true;
  }
bad:
  napi_throw_type_error(env, "ERR_INVALID_ARG", "expected a Uint8Array");
  return false;
}

static bool get_external(napi_env env, napi_value v, void **out) {
  if (napi_get_value_external(env, v, out) != napi_ok || *out == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "expected a handle object");
    return false;
  }
  return true;
}

static napi_value make_i32(napi_env env, int32_t v) {
  napi_value out;
  CHECK(napi_create_int32(env, v, &out));
  return out;
}

static napi_value make_undefined(napi_env env) {
  napi_value out;
  CHECK(napi_get_undefined(env, &out));
  return out;
}

// Reads `obj[name]` as a number; false (no exception) when absent or undefined.
static bool opt_number(napi_env env, napi_value obj, const char *name, double *out) {
  bool has;
  napi_value v;
  napi_valuetype t;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return false;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok || t != napi_number) return false;
  return napi_get_value_double(env, v, out) == napi_ok;
}

static dds_duration_t ms_to_duration(double ms) {
  return ms < 0 ? DDS_INFINITY : (dds_duration_t)(ms * 1e6);
}

// ---------------------------------------------------------------- QoS from a plain object
//
// { reliability: 0|1, maxBlockingMs, durability: 0..3, historyDepth (-1 = KEEP_ALL), maxSamples, maxInstances,
//   maxSamplesPerInstance, durabilityServiceDepth, lifespanMs, ignoreLocal: 0..2, partitions: string[],
//   userData: Uint8Array }
static dds_qos_t *qos_from_object(napi_env env, napi_value obj) {
  dds_qos_t *qos = dds_create_qos();
  napi_valuetype t;
  if (napi_typeof(env, obj, &t) != napi_ok || t != napi_object) return qos;
  double v, w;
  if (opt_number(env, obj, "reliability", &v)) {
    double blocking = 0;
    opt_number(env, obj, "maxBlockingMs", &blocking);
    dds_qset_reliability(qos, v >= 1 ? DDS_RELIABILITY_RELIABLE : DDS_RELIABILITY_BEST_EFFORT, ms_to_duration(blocking));
  }
  if (opt_number(env, obj, "durability", &v)) dds_qset_durability(qos, (dds_durability_kind_t)(int)v);
  if (opt_number(env, obj, "historyDepth", &v)) {
    if (v < 0) dds_qset_history(qos, DDS_HISTORY_KEEP_ALL, 1);
    else dds_qset_history(qos, DDS_HISTORY_KEEP_LAST, (int32_t)v);
  }
  double max_samples = -1, max_instances = -1, per_instance = -1;
  bool limits = opt_number(env, obj, "maxSamples", &max_samples);
  limits |= opt_number(env, obj, "maxInstances", &max_instances);
  limits |= opt_number(env, obj, "maxSamplesPerInstance", &per_instance);
  if (limits) dds_qset_resource_limits(qos, (int32_t)max_samples, (int32_t)max_instances, (int32_t)per_instance);
  if (opt_number(env, obj, "durabilityServiceDepth", &v)) {
    w = -1;
    opt_number(env, obj, "durabilityServiceMaxSamples", &w);
    dds_qset_durability_service(qos, 0, v < 0 ? DDS_HISTORY_KEEP_ALL : DDS_HISTORY_KEEP_LAST, v < 0 ? 1 : (int32_t)v,
                                (int32_t)w, DDS_LENGTH_UNLIMITED, DDS_LENGTH_UNLIMITED);
  }
  if (opt_number(env, obj, "lifespanMs", &v)) dds_qset_lifespan(qos, ms_to_duration(v));
  if (opt_number(env, obj, "ignoreLocal", &v)) dds_qset_ignorelocal(qos, (dds_ignorelocal_kind_t)(int)v);

  bool has;
  napi_value list;
  if (napi_has_named_property(env, obj, "partitions", &has) == napi_ok && has &&
      napi_get_named_property(env, obj, "partitions", &list) == napi_ok) {
    uint32_t n = 0;
    napi_get_array_length(env, list, &n);
    if (n > MAX_PARTITIONS) n = MAX_PARTITIONS;
    char *names[MAX_PARTITIONS];
    uint32_t got = 0;
    for (uint32_t i = 0; i < n; i++) {
      napi_value s;
      size_t len;
      if (napi_get_element(env, list, i, &s) != napi_ok || napi_get_value_string_utf8(env, s, NULL, 0, &len) != napi_ok) continue;
      names[got] = malloc(len + 1);
      napi_get_value_string_utf8(env, s, names[got], len + 1, &len);
      got++;
    }
    dds_qset_partition(qos, got, (const char **)names);
    for (uint32_t i = 0; i < got; i++) free(names[i]);
  }
  napi_value ud;
  if (napi_has_named_property(env, obj, "userData", &has) == napi_ok && has &&
      napi_get_named_property(env, obj, "userData", &ud) == napi_ok) {
    bool is;
    if (napi_is_typedarray(env, ud, &is) == napi_ok && is) {
      uint8_t *p;
      size_t len;
      if (get_bytes(env, ud, &p, &len)) dds_qset_userdata(qos, p, len);
    }
  }
  return qos;
}

// ---------------------------------------------------------------- listeners relayed to the JavaScript thread

static void *pack_event(dds_entity_t entity, int kind, int value) {
  return (void *)(((uintptr_t)(uint32_t)entity << 24) | ((uintptr_t)(value & 0xffff) << 8) | (uintptr_t)kind);
}

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  if (env == NULL || js_cb == NULL) return;
  uintptr_t packed = (uintptr_t)data;
  napi_value argv[3], undefined;
  napi_create_int32(env, (int32_t)(packed >> 24), &argv[0]);
  napi_create_int32(env, (int32_t)(packed & 0xff), &argv[1]);
  napi_create_int32(env, (int32_t)((packed >> 8) & 0xffff), &argv[2]);
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, js_cb, 3, argv, NULL);
}

static void on_data_available(dds_entity_t reader, void *arg) {
  reader_ctx *rc = arg;
  if (!atomic_exchange(&rc->signalled, true))
    napi_call_threadsafe_function(rc->tsfn, pack_event(reader, EV_DATA, 0), napi_tsfn_nonblocking);
}

static void on_requested_incompatible_qos(dds_entity_t reader, const dds_requested_incompatible_qos_status_t status, void *arg) {
  reader_ctx *rc = arg;
  napi_call_threadsafe_function(rc->tsfn, pack_event(reader, EV_REQUESTED_INCOMPATIBLE_QOS, (int)status.last_policy_id), napi_tsfn_nonblocking);
}

static void on_sample_lost(dds_entity_t reader, const dds_sample_lost_status_t status, void *arg) {
  reader_ctx *rc = arg;
  napi_call_threadsafe_function(rc->tsfn, pack_event(reader, EV_SAMPLE_LOST, (int)status.total_count_change), napi_tsfn_nonblocking);
}

static void on_offered_incompatible_qos(dds_entity_t writer, const dds_offered_incompatible_qos_status_t status, void *arg) {
  participant_ctx *pc = arg;
  napi_call_threadsafe_function(pc->tsfn, pack_event(writer, EV_OFFERED_INCOMPATIBLE_QOS, (int)status.last_policy_id), napi_tsfn_nonblocking);
}

// ---------------------------------------------------------------- Cyclone's own log lines
// A library writes nothing to stderr on its own: Cyclone's log goes nowhere until JavaScript asks for it, and then
// each line goes to its callback (at most 1024 waiting; more are dropped rather than queued without bound).

typedef struct log_line {
  uint32_t priority;
  char text[];
} log_line;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static napi_threadsafe_function log_tsfn = NULL;

static void log_sink(void *arg, const dds_log_data_t *d) {
  (void)arg;
  pthread_mutex_lock(&log_lock);
  if (log_tsfn != NULL && d->size >= d->hdrsize) {
    size_t n = d->size - d->hdrsize;
    while (n > 0 && (d->message[d->hdrsize + n - 1] == '\n' || d->message[d->hdrsize + n - 1] == 0)) n--;
    log_line *line = malloc(sizeof *line + n + 1);
    if (line != NULL) {
      line->priority = d->priority;
      memcpy(line->text, d->message + d->hdrsize, n);
      line->text[n] = 0;
      if (napi_call_threadsafe_function(log_tsfn, line, napi_tsfn_nonblocking) != napi_ok) free(line);
    }
  }
  pthread_mutex_unlock(&log_lock);
}

static void log_call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  log_line *line = data;
  if (env != NULL && js_cb != NULL) {
    napi_value argv[2], undefined;
    napi_create_uint32(env, line->priority, &argv[0]);
    napi_create_string_utf8(env, line->text, NAPI_AUTO_LENGTH, &argv[1]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, js_cb, 2, argv, NULL);
  }
  free(line);
}

// setLogSink(fn(priority, text) | null): where Cyclone's warnings and errors go (nowhere by default).
static napi_value set_log_sink(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[0], &t));
  napi_threadsafe_function next = NULL;
  if (t == napi_function) {
    napi_value name;
    CHECK(napi_create_string_utf8(env, "ecps-dds-log", NAPI_AUTO_LENGTH, &name));
    CHECK(napi_create_threadsafe_function(env, argv[0], NULL, name, 1024, 1, NULL, NULL, NULL, log_call_js, &next));
    napi_unref_threadsafe_function(env, next); // a log sink alone never keeps the process alive
  }
  pthread_mutex_lock(&log_lock);
  napi_threadsafe_function previous = log_tsfn;
  log_tsfn = next;
  pthread_mutex_unlock(&log_lock);
  if (previous != NULL) napi_release_threadsafe_function(previous, napi_tsfn_abort);
  return make_undefined(env);
}

// ---------------------------------------------------------------- domains and participants

// createDomain(domainId, configXml) -> domain handle (the config applies to every participant in that domain)
static napi_value create_domain(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  int32_t domain;
  if (!get_i32(env, argv[0], &domain)) return NULL;
  size_t len;
  CHECK(napi_get_value_string_utf8(env, argv[1], NULL, 0, &len));
  char *config = malloc(len + 1);
  napi_get_value_string_utf8(env, argv[1], config, len + 1, &len);
  dds_entity_t d = dds_create_domain((dds_domainid_t)domain, config);
  free(config);
  if (d < 0) return throw_dds(env, "dds_create_domain", d);
  return make_i32(env, d);
}

static void participant_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  participant_ctx *pc = data;
  if (!pc->released) {
    dds_delete(pc->participant);
    napi_release_threadsafe_function(pc->tsfn, napi_tsfn_release);
  }
  free(pc);
}

// createParticipant(domainId, qos, onEvent(handle, kind, value)) -> participant object (External)
static napi_value create_participant(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  int32_t domain;
  if (!get_i32(env, argv[0], &domain)) return NULL;
  dds_qos_t *qos = qos_from_object(env, argv[1]);
  dds_entity_t p = dds_create_participant(domain < 0 ? DDS_DOMAIN_DEFAULT : (dds_domainid_t)domain, qos, NULL);
  dds_delete_qos(qos);
  if (p < 0) return throw_dds(env, "dds_create_participant", p);
  participant_ctx *pc = calloc(1, sizeof *pc);
  pc->participant = p;
  napi_value name;
  CHECK(napi_create_string_utf8(env, "ecps-dds-events", NAPI_AUTO_LENGTH, &name));
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &pc->tsfn) != napi_ok) {
    dds_delete(p);
    free(pc);
    napi_throw_error(env, "ERR_NAPI", "cannot create the event relay");
    return NULL;
  }
  napi_value out;
  CHECK(napi_create_external(env, pc, participant_finalize, NULL, &out));
  return out;
}

// participantHandle(participant) -> entity handle
static napi_value participant_handle(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  participant_ctx *pc;
  if (!get_args(env, info, 1, argv) || !get_external(env, argv[0], (void **)&pc)) return NULL;
  return make_i32(env, pc->released ? 0 : pc->participant);
}

// deleteParticipant(participant): deletes it and everything in it; listeners are quiet once dds_delete returns,
// so the event relay can be released safely afterwards. Idempotent.
static napi_value delete_participant(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  participant_ctx *pc;
  if (!get_args(env, info, 1, argv) || !get_external(env, argv[0], (void **)&pc)) return NULL;
  if (!pc->released) {
    pc->released = true;
    dds_delete(pc->participant);
    napi_release_threadsafe_function(pc->tsfn, napi_tsfn_release);
  }
  return make_undefined(env);
}

// ---------------------------------------------------------------- topics, publishers, subscribers, writers

// createTopic(participantHandle, name, typeId, qos) -> topic handle
static napi_value create_topic(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  int32_t participant, type;
  if (!get_i32(env, argv[0], &participant) || !get_i32(env, argv[2], &type)) return NULL;
  if (type < 0 || type >= TYPE_COUNT) return throw_type(env, "unknown sample type");
  char name[256];
  size_t len;
  CHECK(napi_get_value_string_utf8(env, argv[1], name, sizeof name, &len));
  if (len >= sizeof name - 1) return throw_type(env, "topic name too long");
  dds_qos_t *qos = qos_from_object(env, argv[3]);
  dds_entity_t t = dds_create_topic(participant, descriptors[type], name, qos, NULL);
  dds_delete_qos(qos);
  if (t < 0) return throw_dds(env, "dds_create_topic", t);
  return make_i32(env, t);
}

// createPublisher(participantHandle, qos) / createSubscriber(participantHandle, qos) -> handle (for partitions)
typedef dds_entity_t (*group_factory)(dds_entity_t, const dds_qos_t *, const dds_listener_t *);

static napi_value create_group(napi_env env, napi_callback_info info, group_factory create, const char *what) {
  napi_value argv[2];
  int32_t participant;
  if (!get_args(env, info, 2, argv) || !get_i32(env, argv[0], &participant)) return NULL;
  dds_qos_t *qos = qos_from_object(env, argv[1]);
  dds_entity_t e = create(participant, qos, NULL);
  dds_delete_qos(qos);
  if (e < 0) return throw_dds(env, what, e);
  return make_i32(env, e);
}

static napi_value create_publisher(napi_env env, napi_callback_info info) {
  return create_group(env, info, dds_create_publisher, "dds_create_publisher");
}

static napi_value create_subscriber(napi_env env, napi_callback_info info) {
  return create_group(env, info, dds_create_subscriber, "dds_create_subscriber");
}

// createWriter(participant, parentHandle, topicHandle, qos) -> writer handle
static napi_value create_writer(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  participant_ctx *pc;
  int32_t parent, topic;
  if (!get_args(env, info, 4, argv) || !get_external(env, argv[0], (void **)&pc) || !get_i32(env, argv[1], &parent) ||
      !get_i32(env, argv[2], &topic))
    return NULL;
  dds_qos_t *qos = qos_from_object(env, argv[3]);
  dds_listener_t *listener = dds_create_listener(pc);
  dds_lset_offered_incompatible_qos(listener, on_offered_incompatible_qos);
  dds_entity_t w = dds_create_writer(parent, topic, qos, listener);
  dds_delete_listener(listener);
  dds_delete_qos(qos);
  if (w < 0) return throw_dds(env, "dds_create_writer", w);
  return make_i32(env, w);
}

// deleteEntity(handle): any entity; its children go with it. Deleting one that is already gone is not an error.
static napi_value delete_entity(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t handle;
  if (!get_args(env, info, 1, argv) || !get_i32(env, argv[0], &handle)) return NULL;
  dds_return_t rc = dds_delete(handle);
  if (rc < 0 && rc != DDS_RETCODE_BAD_PARAMETER && rc != DDS_RETCODE_ALREADY_DELETED) return throw_dds(env, "dds_delete", rc);
  return make_undefined(env);
}

// ---------------------------------------------------------------- samples in: XCDR1 little-endian -> struct -> dds_write

typedef struct cdr_in {
  const uint8_t *base; // first byte after the 4-byte encapsulation header (alignment is relative to it)
  size_t len;
  size_t pos;
} cdr_in;

static bool cdr_u32(cdr_in *in, uint32_t *out) {
  in->pos = (in->pos + 3) & ~(size_t)3;
  if (in->pos + 4 > in->len) return false;
  memcpy(out, in->base + in->pos, 4);
  in->pos += 4;
  return true;
}

// A CDR string: u32 length including the NUL, the bytes, the NUL. Returned in place (the NUL is in the buffer).
static bool cdr_string(cdr_in *in, char **out) {
  uint32_t n;
  if (!cdr_u32(in, &n) || n == 0 || n > in->len - in->pos || in->base[in->pos + n - 1] != 0) return false;
  *out = (char *)(in->base + in->pos);
  in->pos += n;
  return true;
}

static bool cdr_octets(cdr_in *in, dds_sequence_octet *out) {
  uint32_t n;
  if (!cdr_u32(in, &n) || n > in->len - in->pos) return false;
  out->_length = out->_maximum = n;
  out->_buffer = n ? (uint8_t *)(in->base + in->pos) : NULL;
  out->_release = false;
  in->pos += n;
  return true;
}

static bool cdr_header_ok(const uint8_t *p, size_t len) {
  // CDR_LE (0x0001) or CDR2_LE (0x0007): for these final types without 8-byte members both encode identically.
  return len >= 4 && p[0] == 0 && (p[1] == 0x01 || p[1] == 0x07);
}

static dds_return_t write_envelope(dds_entity_t writer, const uint8_t *p, size_t len, int64_t ts, bool *malformed) {
  ecps_dds_KeyValue ext[MAX_EXTENSIONS];
  ecps_dds_Envelope s;
  cdr_in in = { p + 4, len - 4, 0 };
  uint32_t n;
  *malformed = true;
  if (!cdr_string(&in, &s.source) || !cdr_string(&in, &s.id) || !cdr_string(&in, &s.type) || !cdr_string(&in, &s.time) ||
      !cdr_u32(&in, &n) || n > MAX_EXTENSIONS)
    return DDS_RETCODE_BAD_PARAMETER;
  for (uint32_t i = 0; i < n; i++)
    if (!cdr_string(&in, &ext[i].key) || !cdr_string(&in, &ext[i].value)) return DDS_RETCODE_BAD_PARAMETER;
  s.extensions._length = s.extensions._maximum = n;
  s.extensions._buffer = n ? ext : NULL;
  s.extensions._release = false;
  if (!cdr_octets(&in, &s.data)) return DDS_RETCODE_BAD_PARAMETER;
  *malformed = false;
  return ts < 0 ? dds_write(writer, &s) : dds_write_ts(writer, &s, ts);
}

static dds_return_t write_keyedseq(dds_entity_t writer, const uint8_t *p, size_t len, int64_t ts, bool *malformed) {
  KeyedSeq s;
  cdr_in in = { p + 4, len - 4, 0 };
  *malformed = true;
  if (!cdr_u32(&in, &s.seq) || !cdr_u32(&in, &s.keyval) || !cdr_octets(&in, &s.baggage)) return DDS_RETCODE_BAD_PARAMETER;
  *malformed = false;
  return ts < 0 ? dds_write(writer, &s) : dds_write_ts(writer, &s, ts);
}

// One sample (4-byte encapsulation header included) to dds_write. *malformed tells a bad sample from a DDS error.
static dds_return_t write_one(dds_entity_t writer, int32_t type, const uint8_t *p, size_t len, int64_t ts, bool *malformed) {
  *malformed = true;
  if (!cdr_header_ok(p, len)) return DDS_RETCODE_BAD_PARAMETER;
  switch (type) {
    case TYPE_ENVELOPE: return write_envelope(writer, p, len, ts, malformed);
    case TYPE_KEYEDSEQ: return write_keyedseq(writer, p, len, ts, malformed);
    default: return DDS_RETCODE_BAD_PARAMETER;
  }
}

static bool get_type(napi_env env, napi_value v, int32_t *type) {
  if (!get_i32(env, v, type)) return false;
  if (*type < 0 || *type >= TYPE_COUNT) {
    throw_type(env, "unknown sample type");
    return false;
  }
  return true;
}

// write(writerHandle, typeId, cdr: Uint8Array, sourceTimestampNs?: bigint) -> 0, or DDS_RETCODE_TIMEOUT (negative)
// when the writer's history is full (the sample was not written). Throws on anything else.
static napi_value write_sample(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  size_t argc = 4;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) return throw_type(env, "missing arguments");
  int32_t writer, type;
  uint8_t *p;
  size_t len;
  if (!get_i32(env, argv[0], &writer) || !get_type(env, argv[1], &type) || !get_bytes(env, argv[2], &p, &len)) return NULL;
  int64_t ts = -1;
  if (argc > 3) {
    napi_valuetype t;
    bool lossless;
    if (napi_typeof(env, argv[3], &t) == napi_ok && t == napi_bigint) napi_get_value_bigint_int64(env, argv[3], &ts, &lossless);
  }
  bool malformed;
  dds_return_t rc = write_one(writer, type, p, len, ts, &malformed);
  if (malformed) return throw_type(env, "malformed XCDR sample");
  if (rc < 0 && rc != DDS_RETCODE_TIMEOUT) return throw_dds(env, "dds_write", rc);
  return make_i32(env, rc < 0 ? rc : 0);
}

// writeBatch(writerHandle, typeId, samples: Uint8Array, ends: Uint32Array, count, max, first = 0) -> samples written.
// Sample i is samples[ends[i-1] .. ends[i]) (from 0 for sample 0). Writes samples first, first + 1, ... < count in
// order, at most `max`, and stops at the first one the writer's full history refuses (DDS_RETCODE_TIMEOUT): the
// caller keeps that one and the rest. Throws on a malformed sample or any other DDS error (the samples before it
// are written).
static napi_value write_batch(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  size_t argc = 7;
  int32_t writer, type, count, max, first = 0;
  uint8_t *p;
  size_t len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return throw_type(env, "missing arguments");
  if (!get_i32(env, argv[0], &writer) || !get_type(env, argv[1], &type) || !get_bytes(env, argv[2], &p, &len) ||
      !get_i32(env, argv[4], &count) || !get_i32(env, argv[5], &max) || (argc > 6 && !get_i32(env, argv[6], &first)))
    return NULL;
  bool is;
  napi_typedarray_type kind;
  size_t n_ends;
  void *ends_p;
  if (napi_is_typedarray(env, argv[3], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[3], &kind, &n_ends, &ends_p, NULL, NULL) != napi_ok || kind != napi_uint32_array)
    return throw_type(env, "expected a Uint32Array of sample ends");
  const uint32_t *ends = ends_p;
  if (count < 0 || (size_t)count > n_ends || first < 0 || first > count) return throw_type(env, "batch count out of range");
  if (max > count - first) max = count - first;
  int32_t written = 0;
  size_t start = first == 0 ? 0 : ends[first - 1];
  for (; written < max; written++) {
    size_t end = ends[first + written];
    if (end < start || end > len) return throw_type(env, "batch sample out of range");
    bool malformed;
    dds_return_t rc = write_one(writer, type, p + start, end - start, -1, &malformed);
    if (malformed) return throw_type(env, "malformed XCDR sample");
    if (rc == DDS_RETCODE_TIMEOUT) break;
    if (rc < 0) return throw_dds(env, "dds_write", rc);
    start = end;
  }
  return make_i32(env, written);
}

// flush(writerHandle): sends what write batching holds back.
static napi_value flush_writer(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t writer;
  if (!get_args(env, info, 1, argv) || !get_i32(env, argv[0], &writer)) return NULL;
  dds_write_flush(writer);
  return make_undefined(env);
}

// setWriteBatch(enabled): Cyclone's process-wide write batching (writes wait for flush() or a full packet).
static napi_value set_write_batch(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bool enabled;
  if (!get_args(env, info, 1, argv)) return NULL;
  CHECK(napi_get_value_bool(env, argv[0], &enabled));
  dds_write_set_batch(enabled);
  return make_undefined(env);
}

// waitForAcks(writerHandle, timeoutMs) -> true when every matched reliable reader acknowledged everything
static napi_value wait_for_acks(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t writer;
  double ms;
  if (!get_args(env, info, 2, argv) || !get_i32(env, argv[0], &writer)) return NULL;
  CHECK(napi_get_value_double(env, argv[1], &ms));
  dds_return_t rc = dds_wait_for_acks(writer, ms_to_duration(ms));
  if (rc < 0 && rc != DDS_RETCODE_TIMEOUT) return throw_dds(env, "dds_wait_for_acks", rc);
  napi_value out;
  CHECK(napi_get_boolean(env, rc == 0, &out));
  return out;
}

// waitForAcksAsync(writerHandle, timeoutMs, done(acknowledged: boolean)): dds_wait_for_acks on a libuv worker thread,
// so a writer whose history is full (writes return DDS_RETCODE_TIMEOUT) is retried the moment its readers have
// acknowledged, with no timer polling on the JavaScript thread. The wait is capped (at most MAX_ACK_WAIT_MS) so a
// stuck peer holds a worker thread only briefly; a deleted writer ends the wait at once.
#define MAX_ACK_WAIT_MS 100

typedef struct ack_wait {
  napi_async_work work;
  napi_ref done;
  dds_entity_t writer;
  dds_duration_t timeout;
  dds_return_t rc;
} ack_wait;

static void ack_wait_execute(napi_env env, void *data) {
  (void)env;
  ack_wait *w = data;
  w->rc = dds_wait_for_acks(w->writer, w->timeout);
}

static void ack_wait_complete(napi_env env, napi_status status, void *data) {
  ack_wait *w = data;
  napi_value done, undefined, argv[1];
  if (napi_get_reference_value(env, w->done, &done) == napi_ok && done != NULL &&
      napi_get_boolean(env, status == napi_ok && w->rc == 0, &argv[0]) == napi_ok && napi_get_undefined(env, &undefined) == napi_ok)
    napi_call_function(env, undefined, done, 1, argv, NULL);
  napi_delete_reference(env, w->done);
  napi_delete_async_work(env, w->work);
  free(w);
}

static napi_value wait_for_acks_async(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t writer;
  double ms;
  napi_valuetype t;
  if (!get_args(env, info, 3, argv) || !get_i32(env, argv[0], &writer)) return NULL;
  CHECK(napi_get_value_double(env, argv[1], &ms));
  CHECK(napi_typeof(env, argv[2], &t));
  if (t != napi_function) return throw_type(env, "expected a callback");
  if (!(ms >= 0) || ms > MAX_ACK_WAIT_MS) ms = MAX_ACK_WAIT_MS;
  ack_wait *w = calloc(1, sizeof *w);
  if (w == NULL) {
    napi_throw_error(env, "ERR_NAPI", "out of memory");
    return NULL;
  }
  w->writer = writer;
  w->timeout = ms_to_duration(ms);
  napi_value name;
  if (napi_create_reference(env, argv[2], 1, &w->done) != napi_ok ||
      napi_create_string_utf8(env, "ecps-dds-ack-wait", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, ack_wait_execute, ack_wait_complete, w, &w->work) != napi_ok ||
      napi_queue_async_work(env, w->work) != napi_ok) {
    if (w->work != NULL) napi_delete_async_work(env, w->work);
    if (w->done != NULL) napi_delete_reference(env, w->done);
    free(w);
    napi_throw_error(env, "ERR_NAPI", "cannot start waiting for acknowledgements");
    return NULL;
  }
  return make_undefined(env);
}

// ---------------------------------------------------------------- readers and samples out

static void reader_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  reader_ctx *rc = data;
  // Normally deleted already (deleteReader, or with its participant); make sure no listener can touch rc again.
  if (rc->reader > 0) dds_delete(rc->reader);
  free(rc);
}

// createReader(participant, parentHandle, topicHandle, qos) -> reader object (External)
static napi_value create_reader(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  participant_ctx *pc;
  int32_t parent, topic;
  if (!get_args(env, info, 4, argv) || !get_external(env, argv[0], (void **)&pc) || !get_i32(env, argv[1], &parent) ||
      !get_i32(env, argv[2], &topic))
    return NULL;
  if (pc->released) return throw_type(env, "participant deleted");
  reader_ctx *rc = calloc(1, sizeof *rc);
  atomic_init(&rc->signalled, false);
  rc->tsfn = pc->tsfn;
  dds_qos_t *qos = qos_from_object(env, argv[3]);
  dds_listener_t *listener = dds_create_listener(rc);
  dds_lset_data_available(listener, on_data_available);
  dds_lset_requested_incompatible_qos(listener, on_requested_incompatible_qos);
  dds_lset_sample_lost(listener, on_sample_lost);
  dds_entity_t r = dds_create_reader(parent, topic, qos, listener);
  dds_delete_listener(listener);
  dds_delete_qos(qos);
  if (r < 0) {
    free(rc);
    return throw_dds(env, "dds_create_reader", r);
  }
  rc->reader = r;
  napi_value out;
  CHECK(napi_create_external(env, rc, reader_finalize, NULL, &out));
  return out;
}

// readerHandle(reader) -> entity handle (0 once deleted)
static napi_value reader_handle(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  reader_ctx *rc;
  if (!get_args(env, info, 1, argv) || !get_external(env, argv[0], (void **)&rc)) return NULL;
  return make_i32(env, rc->reader);
}

// deleteReader(reader): idempotent; no listener runs for it once this returns.
static napi_value delete_reader(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  reader_ctx *rc;
  if (!get_args(env, info, 1, argv) || !get_external(env, argv[0], (void **)&rc)) return NULL;
  if (rc->reader > 0) {
    dds_delete(rc->reader);
    rc->reader = 0;
  }
  return make_undefined(env);
}

// take(reader, max, scratch?: Buffer) -> Buffer | null. Clears the reader's notification flag first, so a sample
// arriving during or after this take notifies again. Fills `scratch` and returns it when everything taken fits
// (no allocation per take), else returns a new Buffer. Layout: u32 count, then per sample 24 bytes { u32 size,
// u32 flags, i64 source timestamp ns, u64 publication handle }, then the samples' XCDR bytes (encapsulation
// header included) in order. flags: bit 0 valid data, bits 1-3 instance state (1 alive, 2 disposed, 4 no writers).
static napi_value take_samples(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t argc = 3;
  reader_ctx *rc;
  int32_t max;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) return throw_type(env, "missing arguments");
  if (!get_external(env, argv[0], (void **)&rc) || !get_i32(env, argv[1], &max)) return NULL;
  uint8_t *scratch = NULL;
  size_t scratch_len = 0;
  if (argc > 2) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[2], &t));
    if (t != napi_undefined && !get_bytes(env, argv[2], &scratch, &scratch_len)) return NULL;
  }
  napi_value nothing;
  CHECK(napi_get_null(env, &nothing));
  if (rc->reader <= 0) return nothing;
  if (max < 1) max = 1;
  if (max > MAX_TAKE) max = MAX_TAKE;
  atomic_store(&rc->signalled, false);
  struct ddsi_serdata *sds[MAX_TAKE];
  dds_sample_info_t si[MAX_TAKE];
  int32_t n = dds_takecdr(rc->reader, sds, (uint32_t)max, si, DDS_ANY_STATE);
  if (n == DDS_RETCODE_BAD_PARAMETER || n == DDS_RETCODE_ALREADY_DELETED) return nothing; // deleted with its participant
  if (n < 0) return throw_dds(env, "dds_takecdr", n);
  if (n == 0) return nothing;
  uint32_t sizes[MAX_TAKE];
  size_t total = 4 + (size_t)n * 24;
  for (int32_t i = 0; i < n; i++) {
    sizes[i] = si[i].valid_data ? ddsi_serdata_size(sds[i]) : 0;
    total += sizes[i];
  }
  uint8_t *out = scratch;
  napi_value buffer = argv[2];
  napi_status status = napi_ok;
  if (total > scratch_len) status = napi_create_buffer(env, total, (void **)&out, &buffer);
  uint8_t *meta = out + 4;
  uint8_t *data = out + 4 + (size_t)n * 24;
  for (int32_t i = 0; i < n; i++) {
    if (status == napi_ok) {
      uint32_t flags = (si[i].valid_data ? 1u : 0u) | ((uint32_t)si[i].instance_state << 1);
      int64_t ts = si[i].source_timestamp;
      uint64_t ph = si[i].publication_handle;
      memcpy(meta, &sizes[i], 4);
      memcpy(meta + 4, &flags, 4);
      memcpy(meta + 8, &ts, 8);
      memcpy(meta + 16, &ph, 8);
      meta += 24;
      if (sizes[i]) ddsi_serdata_to_ser(sds[i], 0, sizes[i], data);
      data += sizes[i];
    }
    ddsi_serdata_unref(sds[i]);
  }
  if (status != napi_ok) {
    napi_throw_error(env, "ERR_NAPI", "cannot allocate the take buffer");
    return NULL;
  }
  uint32_t count = (uint32_t)n;
  memcpy(out, &count, 4);
  return buffer;
}

// readerStatus(reader) -> [matched writers, samples lost (total), samples rejected (total)]
static napi_value reader_status(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  reader_ctx *rc;
  if (!get_args(env, info, 1, argv) || !get_external(env, argv[0], (void **)&rc)) return NULL;
  dds_subscription_matched_status_t m = { 0 };
  dds_sample_lost_status_t l = { 0 };
  dds_sample_rejected_status_t r = { 0 };
  if (rc->reader > 0) {
    dds_get_subscription_matched_status(rc->reader, &m);
    dds_get_sample_lost_status(rc->reader, &l);
    dds_get_sample_rejected_status(rc->reader, &r);
  }
  napi_value out;
  CHECK(napi_create_array_with_length(env, 3, &out));
  napi_set_element(env, out, 0, make_i32(env, (int32_t)m.current_count));
  napi_set_element(env, out, 1, make_i32(env, (int32_t)l.total_count));
  napi_set_element(env, out, 2, make_i32(env, (int32_t)r.total_count));
  return out;
}

// writerMatched(writerHandle) -> number of matched readers
static napi_value writer_matched(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t writer;
  if (!get_args(env, info, 1, argv) || !get_i32(env, argv[0], &writer)) return NULL;
  dds_publication_matched_status_t m = { 0 };
  dds_return_t rc = dds_get_publication_matched_status(writer, &m);
  if (rc < 0) return throw_dds(env, "dds_get_publication_matched_status", rc);
  return make_i32(env, (int32_t)m.current_count);
}

// ---------------------------------------------------------------- discovery

static napi_value guid_buffer(napi_env env, const dds_guid_t *guid) {
  napi_value out;
  void *p;
  CHECK(napi_create_buffer_copy(env, sizeof guid->v, guid->v, &p, &out));
  return out;
}

// entityGuid(handle) -> Buffer(16)
static napi_value entity_guid(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t handle;
  if (!get_args(env, info, 1, argv) || !get_i32(env, argv[0], &handle)) return NULL;
  dds_guid_t guid;
  dds_return_t rc = dds_get_guid(handle, &guid);
  if (rc < 0) return throw_dds(env, "dds_get_guid", rc);
  return guid_buffer(env, &guid);
}

// publicationParticipant(reader, publicationHandle: bigint) -> Buffer(16) GUID of the writer's participant | null
static napi_value publication_participant(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  reader_ctx *rc;
  if (!get_args(env, info, 2, argv) || !get_external(env, argv[0], (void **)&rc)) return NULL;
  uint64_t ih;
  bool lossless;
  CHECK(napi_get_value_bigint_uint64(env, argv[1], &ih, &lossless));
  napi_value nothing;
  CHECK(napi_get_null(env, &nothing));
  if (rc->reader <= 0) return nothing;
  dds_builtintopic_endpoint_t *ep = dds_get_matched_publication_data(rc->reader, ih);
  if (ep == NULL) return nothing;
  napi_value out = guid_buffer(env, &ep->participant_key);
  dds_builtintopic_free_endpoint(ep);
  return out;
}

// createPublicationReader(participant) -> reader object on the DCPSPublication built-in topic (discovery of writers)
static napi_value create_publication_reader(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  participant_ctx *pc;
  if (!get_args(env, info, 1, argv) || !get_external(env, argv[0], (void **)&pc)) return NULL;
  if (pc->released) return throw_type(env, "participant deleted");
  reader_ctx *rc = calloc(1, sizeof *rc);
  atomic_init(&rc->signalled, false);
  rc->tsfn = pc->tsfn;
  dds_listener_t *listener = dds_create_listener(rc);
  dds_lset_data_available(listener, on_data_available);
  dds_entity_t r = dds_create_reader(pc->participant, DDS_BUILTIN_TOPIC_DCPSPUBLICATION, NULL, listener);
  dds_delete_listener(listener);
  if (r < 0) {
    free(rc);
    return throw_dds(env, "dds_create_reader(DCPSPublication)", r);
  }
  rc->reader = r;
  napi_value out;
  CHECK(napi_create_external(env, rc, reader_finalize, NULL, &out));
  return out;
}

// takePublications(reader) -> Array<[topicName, typeName, reliability, durability, historyDepth]> of writers that
// appeared since the last call (reliability 0 best-effort / 1 reliable, durability 0..3, history depth -1 = KEEP_ALL)
static napi_value take_publications(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  reader_ctx *rc;
  if (!get_args(env, info, 1, argv) || !get_external(env, argv[0], (void **)&rc)) return NULL;
  napi_value out;
  CHECK(napi_create_array(env, &out));
  if (rc->reader <= 0) return out;
  atomic_store(&rc->signalled, false);
  void *samples[MAX_TAKE] = { NULL };
  dds_sample_info_t si[MAX_TAKE];
  uint32_t k = 0;
  int32_t n;
  while ((n = dds_take(rc->reader, samples, si, MAX_TAKE, MAX_TAKE)) > 0) {
    for (int32_t i = 0; i < n; i++) {
      if (!si[i].valid_data || si[i].instance_state != DDS_ALIVE_INSTANCE_STATE) continue;
      const dds_builtintopic_endpoint_t *ep = samples[i];
      dds_reliability_kind_t reliability = DDS_RELIABILITY_BEST_EFFORT;
      dds_durability_kind_t durability = DDS_DURABILITY_VOLATILE;
      dds_history_kind_t history = DDS_HISTORY_KEEP_LAST;
      dds_duration_t blocking;
      int32_t depth = 1;
      dds_qget_reliability(ep->qos, &reliability, &blocking);
      dds_qget_durability(ep->qos, &durability);
      dds_qget_history(ep->qos, &history, &depth);
      napi_value entry, topic, type;
      napi_create_array_with_length(env, 5, &entry);
      napi_create_string_utf8(env, ep->topic_name, NAPI_AUTO_LENGTH, &topic);
      napi_create_string_utf8(env, ep->type_name, NAPI_AUTO_LENGTH, &type);
      napi_set_element(env, entry, 0, topic);
      napi_set_element(env, entry, 1, type);
      napi_set_element(env, entry, 2, make_i32(env, reliability == DDS_RELIABILITY_RELIABLE ? 1 : 0));
      napi_set_element(env, entry, 3, make_i32(env, (int32_t)durability));
      napi_set_element(env, entry, 4, make_i32(env, history == DDS_HISTORY_KEEP_ALL ? -1 : depth));
      napi_set_element(env, out, k++, entry);
    }
    dds_return_loan(rc->reader, samples, n);
    if (n < MAX_TAKE) break;
  }
  if (n < 0) return throw_dds(env, "dds_take(DCPSPublication)", n);
  return out;
}

// ---------------------------------------------------------------- module

static napi_value version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  CHECK(napi_create_string_utf8(env, DDS_VERSION, NAPI_AUTO_LENGTH, &out));
  return out;
}

#define EXPORT(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL }

static napi_value init(napi_env env, napi_value exports) {
  dds_set_log_sink(log_sink, NULL);
  dds_set_trace_sink(log_sink, NULL);
  napi_property_descriptor props[] = {
    EXPORT("setLogSink", set_log_sink),
    EXPORT("version", version),
    EXPORT("createDomain", create_domain),
    EXPORT("createParticipant", create_participant),
    EXPORT("participantHandle", participant_handle),
    EXPORT("deleteParticipant", delete_participant),
    EXPORT("createTopic", create_topic),
    EXPORT("createPublisher", create_publisher),
    EXPORT("createSubscriber", create_subscriber),
    EXPORT("createWriter", create_writer),
    EXPORT("deleteEntity", delete_entity),
    EXPORT("write", write_sample),
    EXPORT("writeBatch", write_batch),
    EXPORT("flush", flush_writer),
    EXPORT("setWriteBatch", set_write_batch),
    EXPORT("waitForAcks", wait_for_acks),
    EXPORT("waitForAcksAsync", wait_for_acks_async),
    EXPORT("createReader", create_reader),
    EXPORT("readerHandle", reader_handle),
    EXPORT("deleteReader", delete_reader),
    EXPORT("take", take_samples),
    EXPORT("readerStatus", reader_status),
    EXPORT("writerMatched", writer_matched),
    EXPORT("entityGuid", entity_guid),
    EXPORT("publicationParticipant", publication_participant),
    EXPORT("createPublicationReader", create_publication_reader),
    EXPORT("takePublications", take_publications),
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
