/* zonechain.h: the author library for zonechain contracts written in C.
 *
 * The same functions as zonechain.zig (read that file's header for the
 * rules): every host function of host interface v1 (vm/abi.py, import module
 * "zonechain"), canonical argument decoding and result encoding
 * (docs/ABI-encoding.md), storage of bytes / u64 / u128 values, maps keyed by
 * prefix ++ key, counters, events, call context, cross-contract calls,
 * hashes, signatures and overflow-checked arithmetic.
 *
 * Guarantees: every failure ends the call with zc_abort and a readable
 * message, never a bare trap; scratch memory comes from a bump arena over a
 * static buffer, reset by zc_input(); no libc, no floats, no clock.
 *
 * Header-only: include it in the contract's one .c file. Example:
 *
 *     #include "zonechain.h"
 *     static const zc_map counts = ZC_MAP("count:");
 *
 *     ZC_METHOD(bump) {
 *         zc_reader args = zc_input();
 *         zc_address who;
 *         zc_read_address(&args, "who", &who);
 *         zc_finish(&args);
 *         zc_u128 next = zc_add_u128(zc_map_get_u128(counts, who.bytes, 20), 1,
 *                                    "count overflow");
 *         zc_map_set_u128(counts, who.bytes, 20, next);
 *         zc_return_u128(next);
 *     }
 *
 * The toolchain exports exactly the methods of the ABI file; ZC_METHOD only
 * gives a function the right type and keeps it from being inlined away.
 */
#ifndef ZONECHAIN_H
#define ZONECHAIN_H

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef int int32_t;
typedef long long int64_t;
typedef unsigned long size_t;
typedef unsigned __int128 zc_u128;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

/* ---- host functions (vm/abi.py HOST_FUNCTIONS_V1) ---------------------- */

#define ZC_IMPORT(name) __attribute__((import_module("zonechain"), import_name(#name)))

ZC_IMPORT(input_read) int32_t zc_host_input_read(uint8_t *dst, int32_t cap);
ZC_IMPORT(return_data) void zc_host_return_data(const uint8_t *ptr, int32_t len);
ZC_IMPORT(abort) void zc_host_abort(const uint8_t *msg, int32_t len);
ZC_IMPORT(storage_read) int32_t zc_host_storage_read(const uint8_t *key, int32_t key_len,
                                                     uint8_t *dst, int32_t cap);
ZC_IMPORT(storage_write) void zc_host_storage_write(const uint8_t *key, int32_t key_len,
                                                    const uint8_t *value, int32_t value_len);
ZC_IMPORT(storage_remove) void zc_host_storage_remove(const uint8_t *key, int32_t key_len);
ZC_IMPORT(storage_has) int32_t zc_host_storage_has(const uint8_t *key, int32_t key_len);
ZC_IMPORT(storage_next_key) int32_t zc_host_storage_next_key(
    const uint8_t *prefix, int32_t prefix_len, const uint8_t *after, int32_t after_len,
    uint8_t *dst, int32_t cap);
ZC_IMPORT(emit_event) void zc_host_emit_event(const uint8_t *topic, int32_t topic_len,
                                              const uint8_t *data, int32_t data_len);
ZC_IMPORT(caller) void zc_host_caller(uint8_t *dst);
ZC_IMPORT(origin) void zc_host_origin(uint8_t *dst);
ZC_IMPORT(self_address) void zc_host_self_address(uint8_t *dst);
ZC_IMPORT(zone) int32_t zc_host_zone(uint8_t *dst, int32_t cap);
ZC_IMPORT(block_height) int64_t zc_host_block_height(void);
ZC_IMPORT(block_time_ms) int64_t zc_host_block_time_ms(void);
ZC_IMPORT(tx_hash) void zc_host_tx_hash(uint8_t *dst);
ZC_IMPORT(gas_left) int64_t zc_host_gas_left(void);
ZC_IMPORT(call_contract) int32_t zc_host_call_contract(const uint8_t *address,
                                                       const uint8_t *method, int32_t method_len,
                                                       const uint8_t *args, int32_t args_len,
                                                       int64_t gas);
ZC_IMPORT(call_result_read) int32_t zc_host_call_result_read(uint8_t *dst, int32_t cap);
ZC_IMPORT(sha256) void zc_host_sha256(const uint8_t *ptr, int32_t len, uint8_t *dst);
ZC_IMPORT(blake2b256) void zc_host_blake2b256(const uint8_t *ptr, int32_t len, uint8_t *dst);
ZC_IMPORT(ed25519_verify) int32_t zc_host_ed25519_verify(const uint8_t *public_key,
                                                         const uint8_t *msg, int32_t msg_len,
                                                         const uint8_t *signature);

/* A method: exported by the toolchain when the ABI lists it. */
#define ZC_METHOD(name) __attribute__((used, noinline)) void name(void)

typedef struct { uint8_t bytes[20]; } zc_address;
typedef struct { uint8_t bytes[32]; } zc_hash;

/* ---- aborting ----------------------------------------------------------- */

static inline size_t zc_strlen(const char *text) {
    size_t n = 0;
    while (text[n]) n++;
    return n;
}

static inline void zc_copy(uint8_t *dst, const uint8_t *src, size_t n) {
    __builtin_memcpy(dst, src, n);
}

static inline bool zc_equal(const uint8_t *a, const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

/* End the call with a contract error carrying `message`; never returns. */
__attribute__((noreturn)) static inline void zc_abort(const char *message) {
    zc_host_abort((const uint8_t *)message, (int32_t)zc_strlen(message));
    __builtin_trap();
}

/* Abort with "a" "b" "c" concatenated (any may be NULL), at most 512 bytes. */
__attribute__((noreturn)) static inline void zc_abort3(const char *a, const char *b,
                                                       const char *c) {
    static char message[512];
    size_t used = 0;
    const char *parts[3] = {a, b, c};
    for (int p = 0; p < 3; p++)
        for (const char *s = parts[p]; s && *s && used < sizeof message; s++)
            message[used++] = *s;
    zc_host_abort((const uint8_t *)message, (int32_t)used);
    __builtin_trap();
}

static inline void zc_require(bool condition, const char *message) {
    if (!condition) zc_abort(message);
}

/* ---- scratch memory ----------------------------------------------------- */

#define ZC_ARENA_BYTES (256u * 1024u)
static uint8_t zc_arena[ZC_ARENA_BYTES] __attribute__((aligned(16)));
static size_t zc_arena_used;

/* `n` bytes of scratch memory, valid until the next zc_input(). */
static inline uint8_t *zc_alloc(size_t n) {
    size_t start = (zc_arena_used + 15u) & ~(size_t)15u;
    if (start > ZC_ARENA_BYTES || n > ZC_ARENA_BYTES - start) zc_abort("out of scratch memory");
    zc_arena_used = start + n;
    return zc_arena + start;
}

static inline void zc_reset_arena(void) { zc_arena_used = 0; }

/* ---- reading arguments -------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t len;
    size_t at;
} zc_reader;

__attribute__((noreturn)) static inline void zc_bad(const char *what, const char *problem) {
    zc_abort3("bad arguments: '", what, problem);
}

static inline const uint8_t *zc_take(zc_reader *r, size_t n, const char *what) {
    if (n > r->len - r->at) zc_bad(what, "' runs past the end of the input");
    const uint8_t *out = r->data + r->at;
    r->at += n;
    return out;
}

static inline uint64_t zc_load_le(const uint8_t *p, int size) {
    uint64_t value = 0;
    for (int i = size - 1; i >= 0; i--) value = (value << 8) | p[i];
    return value;
}

static inline void zc_store_le(uint8_t *p, uint64_t value, int size) {
    for (int i = 0; i < size; i++) {
        p[i] = (uint8_t)value;
        value >>= 8;
    }
}

static inline uint8_t zc_read_u8(zc_reader *r, const char *what) { return *zc_take(r, 1, what); }
static inline uint16_t zc_read_u16(zc_reader *r, const char *what) {
    return (uint16_t)zc_load_le(zc_take(r, 2, what), 2);
}
static inline uint32_t zc_read_u32(zc_reader *r, const char *what) {
    return (uint32_t)zc_load_le(zc_take(r, 4, what), 4);
}
static inline uint64_t zc_read_u64(zc_reader *r, const char *what) {
    return zc_load_le(zc_take(r, 8, what), 8);
}
static inline zc_u128 zc_read_u128(zc_reader *r, const char *what) {
    const uint8_t *p = zc_take(r, 16, what);
    return ((zc_u128)zc_load_le(p + 8, 8) << 64) | zc_load_le(p, 8);
}
static inline int32_t zc_read_i32(zc_reader *r, const char *what) {
    return (int32_t)zc_read_u32(r, what);
}
static inline int64_t zc_read_i64(zc_reader *r, const char *what) {
    return (int64_t)zc_read_u64(r, what);
}
static inline bool zc_read_bool(zc_reader *r, const char *what) {
    uint8_t byte = zc_read_u8(r, what);
    if (byte > 1) zc_bad(what, "' is not a bool (must be 0 or 1)");
    return byte == 1;
}
static inline void zc_read_address(zc_reader *r, const char *what, zc_address *out) {
    zc_copy(out->bytes, zc_take(r, 20, what), 20);
}
static inline void zc_read_hash(zc_reader *r, const char *what, zc_hash *out) {
    zc_copy(out->bytes, zc_take(r, 32, what), 32);
}
/* Length-prefixed bytes; *len receives the length, the result points into the input. */
static inline const uint8_t *zc_read_bytes(zc_reader *r, const char *what, size_t *len) {
    *len = zc_read_u32(r, what);
    return zc_take(r, *len, what);
}

static inline bool zc_valid_utf8(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t first = s[i];
        if (first < 0x80) { i++; continue; }
        size_t n;
        uint8_t low = 0x80, high = 0xBF;
        if (first >= 0xC2 && first <= 0xDF) n = 1;
        else if (first >= 0xE0 && first <= 0xEF) {
            n = 2;
            if (first == 0xE0) low = 0xA0;
            if (first == 0xED) high = 0x9F;
        } else if (first >= 0xF0 && first <= 0xF4) {
            n = 3;
            if (first == 0xF0) low = 0x90;
            if (first == 0xF4) high = 0x8F;
        } else return false;
        if (n > len - i - 1) return false;
        if (s[i + 1] < low || s[i + 1] > high) return false;
        for (size_t k = 2; k <= n; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return false;
        i += n + 1;
    }
    return true;
}

/* Length-prefixed UTF-8 text (not NUL-terminated). */
static inline const uint8_t *zc_read_string(zc_reader *r, const char *what, size_t *len) {
    const uint8_t *text = zc_read_bytes(r, what, len);
    if (!zc_valid_utf8(text, *len)) zc_bad(what, "' is not valid UTF-8");
    return text;
}
static inline uint32_t zc_read_list_len(zc_reader *r, const char *what) {
    uint32_t n = zc_read_u32(r, what);
    if (n > r->len - r->at) zc_bad(what, "' has more items than the input holds");
    return n;
}
static inline bool zc_read_optional_tag(zc_reader *r, const char *what) {
    uint8_t tag = zc_read_u8(r, what);
    if (tag > 1) zc_bad(what, "' has a bad optional tag (must be 0 or 1)");
    return tag == 1;
}
static inline void zc_finish(const zc_reader *r) {
    if (r->at != r->len) zc_abort("bad arguments: unexpected trailing bytes");
}

#define ZC_INPUT_BYTES_MAX (128u * 1024u)

/* The call's argument bytes; resets the scratch arena, so call it first. */
static inline zc_reader zc_input(void) {
    zc_reset_arena();
    int32_t size = zc_host_input_read(zc_arena, 0);
    if (size < 0 || (uint32_t)size > ZC_INPUT_BYTES_MAX) zc_abort("input too large");
    uint8_t *buffer = zc_alloc((size_t)size);
    zc_host_input_read(buffer, size);
    zc_reader r = {buffer, (size_t)size, 0};
    return r;
}

static inline void zc_no_args(void) {
    zc_reader r = zc_input();
    zc_finish(&r);
}

/* ---- writing results and event data ------------------------------------ */

typedef struct {
    uint8_t *buffer;
    size_t cap;
    size_t len;
} zc_writer;

static inline zc_writer zc_writer_new(size_t capacity) {
    zc_writer w = {zc_alloc(capacity), capacity, 0};
    return w;
}
static inline void zc_write_raw(zc_writer *w, const uint8_t *data, size_t n) {
    if (n > w->cap - w->len) zc_abort("result buffer full");
    zc_copy(w->buffer + w->len, data, n);
    w->len += n;
}
static inline void zc_write_le(zc_writer *w, uint64_t value, int size) {
    uint8_t tmp[8];
    zc_store_le(tmp, value, size);
    zc_write_raw(w, tmp, (size_t)size);
}
static inline void zc_write_u8(zc_writer *w, uint8_t v) { zc_write_le(w, v, 1); }
static inline void zc_write_u16(zc_writer *w, uint16_t v) { zc_write_le(w, v, 2); }
static inline void zc_write_u32(zc_writer *w, uint32_t v) { zc_write_le(w, v, 4); }
static inline void zc_write_u64(zc_writer *w, uint64_t v) { zc_write_le(w, v, 8); }
static inline void zc_write_i32(zc_writer *w, int32_t v) { zc_write_le(w, (uint32_t)v, 4); }
static inline void zc_write_i64(zc_writer *w, int64_t v) { zc_write_le(w, (uint64_t)v, 8); }
static inline void zc_write_u128(zc_writer *w, zc_u128 v) {
    zc_write_le(w, (uint64_t)v, 8);
    zc_write_le(w, (uint64_t)(v >> 64), 8);
}
static inline void zc_write_bool(zc_writer *w, bool v) { zc_write_u8(w, v ? 1 : 0); }
static inline void zc_write_address(zc_writer *w, const zc_address *a) {
    zc_write_raw(w, a->bytes, 20);
}
static inline void zc_write_hash(zc_writer *w, const zc_hash *h) { zc_write_raw(w, h->bytes, 32); }
static inline void zc_write_bytes(zc_writer *w, const uint8_t *data, size_t n) {
    zc_write_u32(w, (uint32_t)n);
    zc_write_raw(w, data, n);
}
static inline void zc_write_list_len(zc_writer *w, uint32_t count) { zc_write_u32(w, count); }
static inline void zc_write_optional_tag(zc_writer *w, bool present) {
    zc_write_u8(w, present ? 1 : 0);
}

static inline void zc_return_raw(const uint8_t *data, size_t n) {
    zc_host_return_data(data, (int32_t)n);
}
static inline void zc_return_writer(const zc_writer *w) { zc_return_raw(w->buffer, w->len); }
static inline void zc_return_u8(uint8_t v) { zc_return_raw(&v, 1); }
static inline void zc_return_u32(uint32_t v) {
    uint8_t tmp[4];
    zc_store_le(tmp, v, 4);
    zc_return_raw(tmp, 4);
}
static inline void zc_return_u64(uint64_t v) {
    uint8_t tmp[8];
    zc_store_le(tmp, v, 8);
    zc_return_raw(tmp, 8);
}
static inline void zc_return_i64(int64_t v) { zc_return_u64((uint64_t)v); }
static inline void zc_return_u128(zc_u128 v) {
    uint8_t tmp[16];
    zc_store_le(tmp, (uint64_t)v, 8);
    zc_store_le(tmp + 8, (uint64_t)(v >> 64), 8);
    zc_return_raw(tmp, 16);
}
static inline void zc_return_bool(bool v) { zc_return_u8(v ? 1 : 0); }
static inline void zc_return_address(const zc_address *a) { zc_return_raw(a->bytes, 20); }
static inline void zc_return_hash(const zc_hash *h) { zc_return_raw(h->bytes, 32); }
static inline void zc_return_bytes(const uint8_t *data, size_t n) {
    zc_writer w = zc_writer_new(4 + n);
    zc_write_bytes(&w, data, n);
    zc_return_writer(&w);
}
#define zc_return_string zc_return_bytes

/* ---- events ------------------------------------------------------------- */

static inline void zc_emit(const char *topic, const zc_writer *data) {
    zc_host_emit_event((const uint8_t *)topic, (int32_t)zc_strlen(topic), data->buffer,
                       (int32_t)data->len);
}

/* ---- storage ------------------------------------------------------------ */

/* Copies up to cap bytes; returns the full length, or -1 when absent. */
static inline int32_t zc_storage_read(const uint8_t *key, size_t key_len, uint8_t *dst,
                                      size_t cap) {
    return zc_host_storage_read(key, (int32_t)key_len, dst, (int32_t)cap);
}
/* The value in scratch memory (NULL when absent); *len receives its length. */
static inline uint8_t *zc_storage_get(const uint8_t *key, size_t key_len, size_t *len) {
    int32_t size = zc_storage_read(key, key_len, zc_arena, 0);
    if (size < 0) return NULL;
    uint8_t *buffer = zc_alloc((size_t)size);
    zc_storage_read(key, key_len, buffer, (size_t)size);
    *len = (size_t)size;
    return buffer;
}
static inline void zc_storage_set(const uint8_t *key, size_t key_len, const uint8_t *value,
                                  size_t value_len) {
    zc_host_storage_write(key, (int32_t)key_len, value, (int32_t)value_len);
}
static inline void zc_storage_remove(const uint8_t *key, size_t key_len) {
    zc_host_storage_remove(key, (int32_t)key_len);
}
static inline bool zc_storage_has(const uint8_t *key, size_t key_len) {
    return zc_host_storage_has(key, (int32_t)key_len) == 1;
}
/* The u64 under key (stored as 8 bytes LE); `found` may be NULL; absent = 0. */
static inline uint64_t zc_storage_get_u64(const uint8_t *key, size_t key_len, bool *found) {
    uint8_t tmp[8];
    int32_t size = zc_storage_read(key, key_len, tmp, 8);
    if (found) *found = size >= 0;
    if (size < 0) return 0;
    if (size != 8) zc_abort("corrupt stored value: wrong width");
    return zc_load_le(tmp, 8);
}
static inline void zc_storage_set_u64(const uint8_t *key, size_t key_len, uint64_t value) {
    uint8_t tmp[8];
    zc_store_le(tmp, value, 8);
    zc_storage_set(key, key_len, tmp, 8);
}
static inline zc_u128 zc_storage_get_u128(const uint8_t *key, size_t key_len, bool *found) {
    uint8_t tmp[16];
    int32_t size = zc_storage_read(key, key_len, tmp, 16);
    if (found) *found = size >= 0;
    if (size < 0) return 0;
    if (size != 16) zc_abort("corrupt stored value: wrong width");
    return ((zc_u128)zc_load_le(tmp + 8, 8) << 64) | zc_load_le(tmp, 8);
}
static inline void zc_storage_set_u128(const uint8_t *key, size_t key_len, zc_u128 value) {
    uint8_t tmp[16];
    zc_store_le(tmp, (uint64_t)value, 8);
    zc_store_le(tmp + 8, (uint64_t)(value >> 64), 8);
    zc_storage_set(key, key_len, tmp, 16);
}

/* Entries under one prefix: key k lives at prefix ++ k (see zonechain.zig Map). */
typedef struct {
    const char *prefix;
    size_t prefix_len;
} zc_map;
#define ZC_MAP(literal) {(literal), sizeof(literal) - 1}

static inline uint8_t *zc_map_key(zc_map map, const uint8_t *k, size_t k_len, size_t *len) {
    uint8_t *out = zc_alloc(map.prefix_len + k_len);
    zc_copy(out, (const uint8_t *)map.prefix, map.prefix_len);
    zc_copy(out + map.prefix_len, k, k_len);
    *len = map.prefix_len + k_len;
    return out;
}
static inline zc_u128 zc_map_get_u128(zc_map map, const uint8_t *k, size_t k_len) {
    size_t len;
    uint8_t *key = zc_map_key(map, k, k_len, &len);
    return zc_storage_get_u128(key, len, NULL);
}
/* Storing 0 removes the entry. */
static inline void zc_map_set_u128(zc_map map, const uint8_t *k, size_t k_len, zc_u128 value) {
    size_t len;
    uint8_t *key = zc_map_key(map, k, k_len, &len);
    if (value == 0) zc_storage_remove(key, len);
    else zc_storage_set_u128(key, len, value);
}
static inline uint8_t *zc_map_get(zc_map map, const uint8_t *k, size_t k_len, size_t *value_len) {
    size_t len;
    uint8_t *key = zc_map_key(map, k, k_len, &len);
    return zc_storage_get(key, len, value_len);
}
static inline void zc_map_set(zc_map map, const uint8_t *k, size_t k_len, const uint8_t *value,
                              size_t value_len) {
    size_t len;
    uint8_t *key = zc_map_key(map, k, k_len, &len);
    zc_storage_set(key, len, value, value_len);
}
static inline void zc_map_remove(zc_map map, const uint8_t *k, size_t k_len) {
    size_t len;
    uint8_t *key = zc_map_key(map, k, k_len, &len);
    zc_storage_remove(key, len);
}
static inline bool zc_map_has(zc_map map, const uint8_t *k, size_t k_len) {
    size_t len;
    uint8_t *key = zc_map_key(map, k, k_len, &len);
    return zc_storage_has(key, len);
}

/* ---- checked arithmetic ------------------------------------------------- */

static inline zc_u128 zc_add_u128(zc_u128 a, zc_u128 b, const char *message) {
    zc_u128 out;
    if (__builtin_add_overflow(a, b, &out)) zc_abort(message);
    return out;
}
static inline zc_u128 zc_sub_u128(zc_u128 a, zc_u128 b, const char *message) {
    zc_u128 out;
    if (__builtin_sub_overflow(a, b, &out)) zc_abort(message);
    return out;
}
static inline zc_u128 zc_mul_u128(zc_u128 a, zc_u128 b, const char *message) {
    zc_u128 out;
    if (__builtin_mul_overflow(a, b, &out)) zc_abort(message);
    return out;
}
static inline uint64_t zc_add_u64(uint64_t a, uint64_t b, const char *message) {
    uint64_t out;
    if (__builtin_add_overflow(a, b, &out)) zc_abort(message);
    return out;
}
static inline uint64_t zc_sub_u64(uint64_t a, uint64_t b, const char *message) {
    uint64_t out;
    if (__builtin_sub_overflow(a, b, &out)) zc_abort(message);
    return out;
}

/* A u64 counter in storage: add one and return the new value. */
static inline uint64_t zc_counter_increment(const char *key) {
    size_t len = zc_strlen(key);
    uint64_t next = zc_add_u64(zc_storage_get_u64((const uint8_t *)key, len, NULL), 1,
                               "counter overflow");
    zc_storage_set_u64((const uint8_t *)key, len, next);
    return next;
}

/* ---- call context ------------------------------------------------------- */

static inline zc_address zc_caller(void) {
    zc_address a;
    zc_host_caller(a.bytes);
    return a;
}
static inline zc_address zc_origin(void) {
    zc_address a;
    zc_host_origin(a.bytes);
    return a;
}
static inline zc_address zc_self_address(void) {
    zc_address a;
    zc_host_self_address(a.bytes);
    return a;
}
/* The zone name in scratch memory; *len receives its length. */
static inline const uint8_t *zc_zone(size_t *len) {
    uint8_t *out = zc_alloc(64);
    int32_t n = zc_host_zone(out, 64);
    *len = n < 0 ? 0 : (n > 64 ? 64 : (size_t)n);
    return out;
}
static inline int64_t zc_block_height(void) { return zc_host_block_height(); }
static inline int64_t zc_block_time_ms(void) { return zc_host_block_time_ms(); }
static inline zc_hash zc_tx_hash(void) {
    zc_hash h;
    zc_host_tx_hash(h.bytes);
    return h;
}
static inline int64_t zc_gas_left(void) { return zc_host_gas_left(); }
static inline void zc_require_caller(const zc_address *who, const char *message) {
    zc_address actual = zc_caller();
    if (!zc_equal(actual.bytes, who->bytes, 20)) zc_abort(message);
}

/* ---- cross-contract calls ----------------------------------------------- */

typedef struct {
    bool ok;               /* false: the callee failed, its state reverted */
    const uint8_t *data;   /* return data when ok, the error message otherwise */
    size_t len;
} zc_call_result;

static inline zc_call_result zc_call(const zc_address *target, const char *method,
                                     const uint8_t *args, size_t args_len, int64_t gas) {
    int32_t status = zc_host_call_contract(target->bytes, (const uint8_t *)method,
                                           (int32_t)zc_strlen(method), args,
                                           (int32_t)args_len, gas);
    int32_t size = zc_host_call_result_read(zc_arena, 0);
    size_t n = size < 0 ? 0 : (size_t)size;
    uint8_t *data = zc_alloc(n);
    zc_host_call_result_read(data, (int32_t)n);
    zc_call_result result = {status == 0, data, n};
    return result;
}

/* ---- hashes and signatures ---------------------------------------------- */

static inline zc_hash zc_sha256(const uint8_t *data, size_t len) {
    zc_hash h;
    zc_host_sha256(data, (int32_t)len, h.bytes);
    return h;
}
static inline zc_hash zc_blake2b256(const uint8_t *data, size_t len) {
    zc_hash h;
    zc_host_blake2b256(data, (int32_t)len, h.bytes);
    return h;
}
static inline bool zc_ed25519_verify(const uint8_t public_key[32], const uint8_t *msg,
                                     size_t msg_len, const uint8_t signature[64]) {
    return zc_host_ed25519_verify(public_key, msg, (int32_t)msg_len, signature) == 1;
}

#endif /* ZONECHAIN_H */
