//! zonechain.zig: the author library for zonechain contracts written in Zig.
//!
//! It declares every host function of host interface v1 (vm/abi.py, import
//! module "zonechain") and wraps them in small typed helpers: argument
//! decoding and result encoding in the canonical encoding (vm/encoding.py,
//! docs/ABI-encoding.md), storage of bytes / u64 / u128 values, maps and
//! counters, events, call context, cross-contract calls, hashes and
//! signatures, and overflow-checked arithmetic.
//!
//! Guarantees:
//! - Every failure ends the call through `abort` with a readable message
//!   ("bad arguments: 'amount' needs 16 bytes, 3 left", "insufficient
//!   balance"), never through a bare trap. The host discards the call's state
//!   changes, so a contract never needs to undo anything before aborting.
//! - Nothing here allocates from a general heap: scratch memory comes from a
//!   bump arena over a fixed static buffer (`alloc`), reset when a method
//!   reads its input (`input()`). Exhausting it aborts with a message.
//! - Deterministic by construction: no floats, no clocks (block time comes
//!   from the header), no randomness.
//!
//! A method is an exported function `fn() void` named like the method in the
//! ABI file; `init` runs once at deploy. Example (the full template is
//! contracts/zones/token/token.zig):
//!
//!     const zc = @import("zonechain");
//!     const counts = zc.Map.init("count:");
//!
//!     export fn bump() void {
//!         var args = zc.input();
//!         const who = args.address("who");
//!         args.finish();
//!         const next = zc.checkedAdd(u128, counts.getU128(&who), 1, "count overflow");
//!         counts.setU128(&who, next);
//!         zc.returnU128(next);
//!     }
//!
//! Build with `zonechain contract build DIR`; the toolchain makes this file
//! importable as `@import("zonechain")`.

// ---------------------------------------------------------------------------
// Host functions (vm/abi.py HOST_FUNCTIONS_V1). Pointers and lengths are i32
// offsets into this module's memory.
// ---------------------------------------------------------------------------

pub const host = struct {
    pub extern "zonechain" fn input_read(dst_ptr: [*]u8, dst_cap: i32) i32;
    pub extern "zonechain" fn return_data(ptr: [*]const u8, len: i32) void;
    pub extern "zonechain" fn abort(msg_ptr: [*]const u8, msg_len: i32) void;

    pub extern "zonechain" fn storage_read(key_ptr: [*]const u8, key_len: i32, dst_ptr: [*]u8, dst_cap: i32) i32;
    pub extern "zonechain" fn storage_write(key_ptr: [*]const u8, key_len: i32, value_ptr: [*]const u8, value_len: i32) void;
    pub extern "zonechain" fn storage_remove(key_ptr: [*]const u8, key_len: i32) void;
    pub extern "zonechain" fn storage_has(key_ptr: [*]const u8, key_len: i32) i32;
    pub extern "zonechain" fn storage_next_key(prefix_ptr: [*]const u8, prefix_len: i32, after_ptr: [*]const u8, after_len: i32, dst_ptr: [*]u8, dst_cap: i32) i32;

    pub extern "zonechain" fn emit_event(topic_ptr: [*]const u8, topic_len: i32, data_ptr: [*]const u8, data_len: i32) void;

    pub extern "zonechain" fn caller(dst_ptr: [*]u8) void;
    pub extern "zonechain" fn origin(dst_ptr: [*]u8) void;
    pub extern "zonechain" fn self_address(dst_ptr: [*]u8) void;
    pub extern "zonechain" fn zone(dst_ptr: [*]u8, dst_cap: i32) i32;
    pub extern "zonechain" fn block_height() i64;
    pub extern "zonechain" fn block_time_ms() i64;
    pub extern "zonechain" fn tx_hash(dst_ptr: [*]u8) void;
    pub extern "zonechain" fn gas_left() i64;

    pub extern "zonechain" fn call_contract(address_ptr: [*]const u8, method_ptr: [*]const u8, method_len: i32, args_ptr: [*]const u8, args_len: i32, gas: i64) i32;
    pub extern "zonechain" fn call_result_read(dst_ptr: [*]u8, dst_cap: i32) i32;

    pub extern "zonechain" fn sha256(ptr: [*]const u8, len: i32, dst_ptr: [*]u8) void;
    pub extern "zonechain" fn blake2b256(ptr: [*]const u8, len: i32, dst_ptr: [*]u8) void;
    pub extern "zonechain" fn ed25519_verify(public_key_ptr: [*]const u8, msg_ptr: [*]const u8, msg_len: i32, signature_ptr: [*]const u8) i32;
};

pub const Address = [20]u8;
pub const Hash = [32]u8;
pub const PublicKey = [32]u8;
pub const Signature = [64]u8;

/// Lengths handed to the host are i32; a slice in a 32-bit memory always fits.
inline fn len32(slice: []const u8) i32 {
    return @intCast(slice.len);
}

// ---------------------------------------------------------------------------
// Failing: abort with a message
// ---------------------------------------------------------------------------

/// End the call with a contract error carrying `message` (UTF-8). The call's
/// state changes are discarded. Never returns.
pub fn abort(message: []const u8) noreturn {
    host.abort(message.ptr, len32(message));
    @trap(); // the host never returns from abort; this only satisfies `noreturn`
}

var message_buffer: [512]u8 = undefined;

/// Abort with the concatenation of `parts`, e.g.
/// `abortParts(&.{ "unknown asset '", name, "'" })`. Truncated at 512 bytes.
pub fn abortParts(parts: []const []const u8) noreturn {
    var used: usize = 0;
    for (parts) |part| {
        const room = message_buffer.len - used;
        const take = if (part.len < room) part.len else room;
        @memcpy(message_buffer[used .. used + take], part[0..take]);
        used += take;
    }
    abort(message_buffer[0..used]);
}

/// Abort with `message` unless `condition` holds.
pub inline fn require(condition: bool, message: []const u8) void {
    if (!condition) abort(message);
}

// ---------------------------------------------------------------------------
// Safety panics become aborts with a message
// ---------------------------------------------------------------------------

/// The panic handler of every contract. Contracts are built in ReleaseSafe,
/// so integer overflow, out-of-bounds indexing, `unreachable` and `@panic`
/// are checked; this namespace turns each into `abort("panic: ...")`, a
/// contract error with a readable, deterministic message, instead of a bare
/// trap. The toolchain installs it as the root module's `panic`; authors do
/// nothing. (Its function list is the one Zig 0.17 expects of a panic
/// namespace; the toolchain pins that compiler version.)
pub const panic = struct {
    /// `@panic(message)`.
    pub fn call(message: []const u8, return_address: ?usize) noreturn {
        @branchHint(.cold);
        _ = return_address;
        abortParts(&.{ "panic: ", message });
    }
    pub fn sentinelMismatch(expected: anytype, found: @TypeOf(expected)) noreturn {
        @branchHint(.cold);
        _ = found;
        abort("panic: sentinel mismatch");
    }
    pub fn unwrapError(err: anyerror) noreturn {
        @branchHint(.cold);
        _ = err;
        abort("panic: attempt to unwrap error");
    }
    pub fn outOfBounds(index: usize, len: usize) noreturn {
        @branchHint(.cold);
        _ = index;
        _ = len;
        abort("panic: index out of bounds");
    }
    pub fn startGreaterThanEnd(start: usize, end: usize) noreturn {
        @branchHint(.cold);
        _ = start;
        _ = end;
        abort("panic: slice start is larger than its end");
    }
    pub fn inactiveUnionField(active: anytype, accessed: @TypeOf(active)) noreturn {
        @branchHint(.cold);
        _ = accessed;
        abort("panic: access of an inactive union field");
    }
    pub fn sliceCastLenRemainder(src_len: usize) noreturn {
        @branchHint(.cold);
        _ = src_len;
        abort("panic: slice length does not divide into the target type");
    }
    pub fn reachedUnreachable() noreturn {
        @branchHint(.cold);
        abort("panic: reached unreachable code");
    }
    pub fn unwrapNull() noreturn {
        @branchHint(.cold);
        abort("panic: attempt to use a null value");
    }
    pub fn castToNull() noreturn {
        @branchHint(.cold);
        abort("panic: cast to a null pointer");
    }
    pub fn incorrectAlignment() noreturn {
        @branchHint(.cold);
        abort("panic: incorrect alignment");
    }
    pub fn invalidErrorCode() noreturn {
        @branchHint(.cold);
        abort("panic: invalid error code");
    }
    pub fn unexpectedErrorCode(err: anyerror) noreturn {
        @branchHint(.cold);
        _ = err;
        abort("panic: unexpected error code");
    }
    pub fn integerOutOfBounds() noreturn {
        @branchHint(.cold);
        abort("panic: integer does not fit in the destination type");
    }
    pub fn integerOverflow() noreturn {
        @branchHint(.cold);
        abort("panic: integer overflow");
    }
    pub fn shlOverflow() noreturn {
        @branchHint(.cold);
        abort("panic: left shift overflowed bits");
    }
    pub fn shrOverflow() noreturn {
        @branchHint(.cold);
        abort("panic: right shift overflowed bits");
    }
    pub fn divideByZero() noreturn {
        @branchHint(.cold);
        abort("panic: division by zero");
    }
    pub fn exactDivisionRemainder() noreturn {
        @branchHint(.cold);
        abort("panic: exact division had a remainder");
    }
    pub fn integerPartOutOfBounds() noreturn {
        @branchHint(.cold);
        abort("panic: integer part of a float out of bounds");
    }
    pub fn corruptSwitch() noreturn {
        @branchHint(.cold);
        abort("panic: switch on a corrupt value");
    }
    pub fn shiftRhsTooBig() noreturn {
        @branchHint(.cold);
        abort("panic: shift amount is greater than the type size");
    }
    pub fn invalidEnumValue() noreturn {
        @branchHint(.cold);
        abort("panic: invalid enum value");
    }
    pub fn forLenMismatch() noreturn {
        @branchHint(.cold);
        abort("panic: for loop over objects with different lengths");
    }
    pub fn copyLenMismatch() noreturn {
        @branchHint(.cold);
        abort("panic: source and destination of a copy have different lengths");
    }
    pub fn memcpyAlias() noreturn {
        @branchHint(.cold);
        abort("panic: @memcpy arguments alias");
    }
    pub fn noreturnReturned() noreturn {
        @branchHint(.cold);
        abort("panic: a noreturn function returned");
    }
    pub fn loadUninstantiableType() noreturn {
        @branchHint(.cold);
        abort("panic: load of an uninstantiable type");
    }
};

// ---------------------------------------------------------------------------
// Scratch memory: a bump arena over a static buffer
// ---------------------------------------------------------------------------

/// Size of the scratch arena. Input, storage values read with `storageGet`,
/// result and event buffers come from here; 256 KiB holds the largest input
/// (128 KiB, vm/limits.py INPUT_BYTES_MAX) with room to spare.
pub const ARENA_BYTES: usize = 256 * 1024;
var arena: [ARENA_BYTES]u8 align(16) = undefined;
var arena_used: usize = 0;

/// `n` bytes of scratch memory, valid until the next `input()` call (the
/// start of the next method). Aborts when the arena is exhausted.
pub fn alloc(n: usize) []u8 {
    const start = (arena_used + 15) & ~@as(usize, 15);
    if (start > ARENA_BYTES or n > ARENA_BYTES - start) abort("out of scratch memory");
    arena_used = start + n;
    return arena[start .. start + n];
}

/// Forget every scratch allocation. `input()` calls this; call it yourself
/// only in a method that never reads its input.
pub fn resetArena() void {
    arena_used = 0;
}

/// `a ++ b ++ ...` at run time, in scratch memory (for composite storage keys).
pub fn concat(parts: []const []const u8) []u8 {
    var total: usize = 0;
    for (parts) |part| total += part.len;
    const out = alloc(total);
    var at: usize = 0;
    for (parts) |part| {
        @memcpy(out[at .. at + part.len], part);
        at += part.len;
    }
    return out;
}

pub fn eql(a: []const u8, b: []const u8) bool {
    if (a.len != b.len) return false;
    for (a, b) |x, y| {
        if (x != y) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------
// Reading arguments (canonical encoding)
// ---------------------------------------------------------------------------

/// Reads the canonical encoding from a byte slice. Every read names the value
/// it reads; a short input, a bad bool or optional tag, invalid UTF-8 or
/// trailing bytes abort with "bad arguments: ...".
pub const Reader = struct {
    data: []const u8,
    at: usize = 0,

    pub fn init(data: []const u8) Reader {
        return .{ .data = data };
    }

    fn fail(self: *const Reader, what: []const u8, problem: []const u8) noreturn {
        _ = self;
        abortParts(&.{ "bad arguments: '", what, "' ", problem });
    }

    /// The next `n` raw bytes.
    pub fn take(self: *Reader, n: usize, what: []const u8) []const u8 {
        if (n > self.data.len - self.at) self.fail(what, "runs past the end of the input");
        const out = self.data[self.at .. self.at + n];
        self.at += n;
        return out;
    }

    fn int(self: *Reader, comptime T: type, what: []const u8) T {
        const raw = self.take(@sizeOf(T), what);
        return loadInt(T, raw);
    }

    pub fn readU8(self: *Reader, what: []const u8) u8 {
        return self.take(1, what)[0];
    }
    pub fn readU16(self: *Reader, what: []const u8) u16 {
        return self.int(u16, what);
    }
    pub fn readU32(self: *Reader, what: []const u8) u32 {
        return self.int(u32, what);
    }
    pub fn readU64(self: *Reader, what: []const u8) u64 {
        return self.int(u64, what);
    }
    pub fn readU128(self: *Reader, what: []const u8) u128 {
        return self.int(u128, what);
    }
    pub fn readI32(self: *Reader, what: []const u8) i32 {
        return self.int(i32, what);
    }
    pub fn readI64(self: *Reader, what: []const u8) i64 {
        return self.int(i64, what);
    }

    /// Short names, so that a method reads like its ABI entry.
    pub const @"u8" = readU8;
    pub const @"u16" = readU16;
    pub const @"u32" = readU32;
    pub const @"u64" = readU64;
    pub const @"u128" = readU128;
    pub const @"i32" = readI32;
    pub const @"i64" = readI64;

    pub fn boolean(self: *Reader, what: []const u8) bool {
        const byte = self.readU8(what);
        if (byte > 1) self.fail(what, "is not a bool (must be 0 or 1)");
        return byte == 1;
    }

    pub fn address(self: *Reader, what: []const u8) Address {
        return self.take(20, what)[0..20].*;
    }

    pub fn hash(self: *Reader, what: []const u8) Hash {
        return self.take(32, what)[0..32].*;
    }

    /// Length-prefixed bytes (u32 LE length). The slice points into the input.
    pub fn bytes(self: *Reader, what: []const u8) []const u8 {
        const n = self.readU32(what);
        return self.take(n, what);
    }

    /// Length-prefixed UTF-8 text; invalid UTF-8 aborts.
    pub fn string(self: *Reader, what: []const u8) []const u8 {
        const text = self.bytes(what);
        if (!validUtf8(text)) self.fail(what, "is not valid UTF-8");
        return text;
    }

    /// The item count of a `list<T>`; read the items yourself after it. Counts
    /// that the remaining input cannot possibly hold abort.
    pub fn listLen(self: *Reader, what: []const u8) u32 {
        const n = self.readU32(what);
        if (n > self.data.len - self.at) self.fail(what, "has more items than the input holds");
        return n;
    }

    /// The tag of an `optional<T>`: true when a value follows.
    pub fn optionalTag(self: *Reader, what: []const u8) bool {
        const tag = self.readU8(what);
        if (tag > 1) self.fail(what, "has a bad optional tag (must be 0 or 1)");
        return tag == 1;
    }

    /// Abort unless every byte was read (no trailing bytes).
    pub fn finish(self: *const Reader) void {
        if (self.at != self.data.len) abort("bad arguments: unexpected trailing bytes");
    }
};

/// Maximum input size, vm/limits.py INPUT_BYTES_MAX.
pub const INPUT_BYTES_MAX: usize = 128 * 1024;

/// The current call's argument bytes as a Reader. Resets the scratch arena
/// first, so call it once, at the start of a method.
pub fn input() Reader {
    resetArena();
    const size = host.input_read(&arena, 0); // capacity 0: just ask the length
    if (size < 0 or @as(usize, @intCast(size)) > INPUT_BYTES_MAX) abort("input too large");
    const buffer = alloc(@intCast(size));
    _ = host.input_read(buffer.ptr, len32(buffer));
    return Reader.init(buffer);
}

/// For methods without parameters: abort if any input was sent.
pub fn noArgs() void {
    var args = input();
    args.finish();
}

pub fn validUtf8(text: []const u8) bool {
    var i: usize = 0;
    while (i < text.len) {
        const first = text[i];
        if (first < 0x80) {
            i += 1;
            continue;
        }
        var n: usize = 0;
        var low: u8 = 0x80;
        var high: u8 = 0xBF;
        if (first >= 0xC2 and first <= 0xDF) {
            n = 1;
        } else if (first >= 0xE0 and first <= 0xEF) {
            n = 2;
            if (first == 0xE0) low = 0xA0; // no overlong forms
            if (first == 0xED) high = 0x9F; // no surrogates
        } else if (first >= 0xF0 and first <= 0xF4) {
            n = 3;
            if (first == 0xF0) low = 0x90; // no overlong forms
            if (first == 0xF4) high = 0x8F; // nothing above U+10FFFF
        } else return false;
        if (n > text.len - i - 1) return false;
        if (text[i + 1] < low or text[i + 1] > high) return false;
        var k: usize = 2;
        while (k <= n) : (k += 1) {
            if (text[i + k] < 0x80 or text[i + k] > 0xBF) return false;
        }
        i += n + 1;
    }
    return true;
}

fn loadInt(comptime T: type, raw: []const u8) T {
    const U = @Int(.unsigned, @bitSizeOf(T));
    var value: U = 0;
    var i: usize = @sizeOf(T);
    while (i > 0) {
        i -= 1;
        value = (value << 8) | raw[i];
    }
    return @bitCast(value);
}

fn storeInt(comptime T: type, value: T, out: []u8) void {
    const U = @Int(.unsigned, @bitSizeOf(T));
    var bits: U = @bitCast(value);
    for (out[0..@sizeOf(T)]) |*byte| {
        byte.* = @truncate(bits);
        bits = if (@bitSizeOf(T) > 8) bits >> 8 else 0;
    }
}

// ---------------------------------------------------------------------------
// Writing results and event data (canonical encoding)
// ---------------------------------------------------------------------------

/// Appends canonical encodings to a fixed-capacity scratch buffer; overflowing
/// the capacity aborts ("result buffer full").
pub const Writer = struct {
    buffer: []u8,
    len: usize = 0,

    /// A writer holding at most `capacity` bytes, in scratch memory.
    pub fn init(capacity: usize) Writer {
        return .{ .buffer = alloc(capacity) };
    }

    pub fn raw(self: *Writer, data: []const u8) void {
        if (data.len > self.buffer.len - self.len) abort("result buffer full");
        @memcpy(self.buffer[self.len .. self.len + data.len], data);
        self.len += data.len;
    }

    fn int(self: *Writer, comptime T: type, value: T) void {
        var tmp: [@sizeOf(T)]u8 = undefined;
        storeInt(T, value, &tmp);
        self.raw(&tmp);
    }

    pub fn writeU8(self: *Writer, value: u8) void {
        self.raw(&.{value});
    }
    pub fn writeU16(self: *Writer, value: u16) void {
        self.int(u16, value);
    }
    pub fn writeU32(self: *Writer, value: u32) void {
        self.int(u32, value);
    }
    pub fn writeU64(self: *Writer, value: u64) void {
        self.int(u64, value);
    }
    pub fn writeU128(self: *Writer, value: u128) void {
        self.int(u128, value);
    }
    pub fn writeI32(self: *Writer, value: i32) void {
        self.int(i32, value);
    }
    pub fn writeI64(self: *Writer, value: i64) void {
        self.int(i64, value);
    }

    pub const @"u8" = writeU8;
    pub const @"u16" = writeU16;
    pub const @"u32" = writeU32;
    pub const @"u64" = writeU64;
    pub const @"u128" = writeU128;
    pub const @"i32" = writeI32;
    pub const @"i64" = writeI64;

    pub fn boolean(self: *Writer, value: bool) void {
        self.writeU8(if (value) 1 else 0);
    }
    pub fn address(self: *Writer, value: *const Address) void {
        self.raw(value);
    }
    pub fn hash(self: *Writer, value: *const Hash) void {
        self.raw(value);
    }
    /// u32 LE length, then the bytes.
    pub fn bytes(self: *Writer, value: []const u8) void {
        self.writeU32(@intCast(value.len));
        self.raw(value);
    }
    /// As `bytes`; the caller guarantees valid UTF-8.
    pub fn string(self: *Writer, value: []const u8) void {
        self.bytes(value);
    }
    /// A list's item count; write the items after it.
    pub fn listLen(self: *Writer, count: u32) void {
        self.writeU32(count);
    }
    /// An optional's tag; after `optionalTag(true)` write the value.
    pub fn optionalTag(self: *Writer, present: bool) void {
        self.writeU8(if (present) 1 else 0);
    }

    pub fn slice(self: *const Writer) []const u8 {
        return self.buffer[0..self.len];
    }
};

/// Set the call's result to raw bytes (already canonically encoded).
pub fn returnRaw(data: []const u8) void {
    host.return_data(data.ptr, len32(data));
}
pub fn returnWriter(w: *const Writer) void {
    returnRaw(w.slice());
}
pub fn returnU8(value: u8) void {
    returnRaw(&.{value});
}
pub fn returnU32(value: u32) void {
    var tmp: [4]u8 = undefined;
    storeInt(u32, value, &tmp);
    returnRaw(&tmp);
}
pub fn returnU64(value: u64) void {
    var tmp: [8]u8 = undefined;
    storeInt(u64, value, &tmp);
    returnRaw(&tmp);
}
pub fn returnU128(value: u128) void {
    var tmp: [16]u8 = undefined;
    storeInt(u128, value, &tmp);
    returnRaw(&tmp);
}
pub fn returnI64(value: i64) void {
    var tmp: [8]u8 = undefined;
    storeInt(i64, value, &tmp);
    returnRaw(&tmp);
}
pub fn returnBool(value: bool) void {
    returnU8(if (value) 1 else 0);
}
pub fn returnAddress(value: *const Address) void {
    returnRaw(value);
}
pub fn returnHash(value: *const Hash) void {
    returnRaw(value);
}
/// Length-prefixed bytes or string.
pub fn returnBytes(value: []const u8) void {
    var w = Writer.init(4 + value.len);
    w.bytes(value);
    returnWriter(&w);
}
pub const returnString = returnBytes;

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// Emit an event: `topic` is the event's name in the ABI file, `data` its
/// fields in the canonical encoding (build it with a Writer).
pub fn emit(topic: []const u8, data: []const u8) void {
    host.emit_event(topic.ptr, len32(topic), data.ptr, len32(data));
}

// ---------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------

/// The value under `key` copied into `dst` (up to dst.len bytes); returns its
/// full length, or null when absent.
pub fn storageRead(key: []const u8, dst: []u8) ?usize {
    const n = host.storage_read(key.ptr, len32(key), dst.ptr, len32(dst));
    if (n < 0) return null;
    return @intCast(n);
}

/// The value under `key` in scratch memory, or null when absent.
pub fn storageGet(key: []const u8) ?[]u8 {
    var probe: [0]u8 = .{};
    const size = storageRead(key, &probe) orelse return null;
    const buffer = alloc(size);
    _ = storageRead(key, buffer);
    return buffer;
}

pub fn storageSet(key: []const u8, value: []const u8) void {
    host.storage_write(key.ptr, len32(key), value.ptr, len32(value));
}

pub fn storageRemove(key: []const u8) void {
    host.storage_remove(key.ptr, len32(key));
}

pub fn storageHas(key: []const u8) bool {
    return host.storage_has(key.ptr, len32(key)) == 1;
}

/// The smallest stored key that starts with `prefix` and sorts after `after`
/// (null: from the start of the prefix), in scratch memory; null at the end.
/// Keys sort as unsigned bytes, so iteration order is the same on every node:
///
///     var key = zc.nextKey("bal:", null);
///     while (key) |k| : (key = zc.nextKey("bal:", k)) { ... }
pub fn nextKey(prefix: []const u8, after: ?[]const u8) ?[]u8 {
    var buffer: [256]u8 = undefined; // vm/limits.py STORAGE_KEY_BYTES_MAX
    const after_ptr: [*]const u8 = if (after) |a| a.ptr else prefix.ptr;
    const after_len: i32 = if (after) |a| len32(a) else -1;
    const n = host.storage_next_key(prefix.ptr, len32(prefix), after_ptr, after_len, &buffer, buffer.len);
    if (n < 0) return null;
    const size: usize = @intCast(n);
    if (size > buffer.len) abort("storage key longer than 256 bytes");
    return concat(&.{buffer[0..size]});
}

/// A fixed-width integer stored in the canonical encoding (LE, exact width).
/// A stored value of another width aborts ("corrupt stored value").
fn storageGetInt(comptime T: type, key: []const u8) ?T {
    var tmp: [@sizeOf(T)]u8 = undefined;
    const size = storageRead(key, &tmp) orelse return null;
    if (size != @sizeOf(T)) abort("corrupt stored value: wrong width");
    return loadInt(T, &tmp);
}

fn storageSetInt(comptime T: type, key: []const u8, value: T) void {
    var tmp: [@sizeOf(T)]u8 = undefined;
    storeInt(T, value, &tmp);
    storageSet(key, &tmp);
}

pub fn storageGetU64(key: []const u8) ?u64 {
    return storageGetInt(u64, key);
}
pub fn storageSetU64(key: []const u8, value: u64) void {
    storageSetInt(u64, key, value);
}
pub fn storageGetU128(key: []const u8) ?u128 {
    return storageGetInt(u128, key);
}
pub fn storageSetU128(key: []const u8, value: u128) void {
    storageSetInt(u128, key, value);
}
pub fn storageGetAddress(key: []const u8) ?Address {
    var tmp: Address = undefined;
    const size = storageRead(key, &tmp) orelse return null;
    if (size != 20) abort("corrupt stored value: not an address");
    return tmp;
}
pub fn storageSetAddress(key: []const u8, value: *const Address) void {
    storageSet(key, value);
}

/// Storage entries under one prefix: the entry for key `k` lives at
/// `prefix ++ k`. Keys may be addresses, hashes or any bytes; when you build a
/// key from several variable-length parts, length-prefix them (or use
/// fixed-width parts) so that two different tuples never make the same key.
/// Keys are at most 256 bytes (vm/limits.py STORAGE_KEY_BYTES_MAX).
pub const Map = struct {
    prefix: []const u8,

    pub fn init(comptime prefix: []const u8) Map {
        return .{ .prefix = prefix };
    }

    /// The full storage key of `k` (in scratch memory).
    pub fn key(self: Map, k: []const u8) []u8 {
        return concat(&.{ self.prefix, k });
    }
    /// The full storage key of the pair (`a`, `b`), e.g. owner and spender.
    pub fn key2(self: Map, a: []const u8, b: []const u8) []u8 {
        return concat(&.{ self.prefix, a, b });
    }

    pub fn get(self: Map, k: []const u8) ?[]u8 {
        return storageGet(self.key(k));
    }
    pub fn set(self: Map, k: []const u8, value: []const u8) void {
        storageSet(self.key(k), value);
    }
    pub fn remove(self: Map, k: []const u8) void {
        storageRemove(self.key(k));
    }
    pub fn has(self: Map, k: []const u8) bool {
        return storageHas(self.key(k));
    }
    /// The u128 under `k`, 0 when absent (balances, allowances).
    pub fn getU128(self: Map, k: []const u8) u128 {
        return storageGetU128(self.key(k)) orelse 0;
    }
    /// Store `value` under `k`; storing 0 removes the entry (keeps state small).
    pub fn setU128(self: Map, k: []const u8, value: u128) void {
        if (value == 0) self.remove(k) else storageSetU128(self.key(k), value);
    }
    pub fn getU64(self: Map, k: []const u8) u64 {
        return storageGetU64(self.key(k)) orelse 0;
    }
    pub fn setU64(self: Map, k: []const u8, value: u64) void {
        if (value == 0) self.remove(k) else storageSetU64(self.key(k), value);
    }
};

/// A u64 counter in storage (0 when never set), e.g. the next id to hand out.
pub const Counter = struct {
    key: []const u8,

    pub fn init(comptime key: []const u8) Counter {
        return .{ .key = key };
    }
    pub fn get(self: Counter) u64 {
        return storageGetU64(self.key) orelse 0;
    }
    /// Add `n` and return the new value; aborts on overflow.
    pub fn add(self: Counter, n: u64) u64 {
        const next = checkedAdd(u64, self.get(), n, "counter overflow");
        storageSetU64(self.key, next);
        return next;
    }
    /// Add one and return the new value.
    pub fn increment(self: Counter) u64 {
        return self.add(1);
    }
};

// ---------------------------------------------------------------------------
// Call context
// ---------------------------------------------------------------------------

/// The immediate caller: the signer of the transaction, or the contract that
/// called this one.
pub fn caller() Address {
    var out: Address = undefined;
    host.caller(&out);
    return out;
}
/// The address that signed the transaction.
pub fn origin() Address {
    var out: Address = undefined;
    host.origin(&out);
    return out;
}
pub fn selfAddress() Address {
    var out: Address = undefined;
    host.self_address(&out);
    return out;
}
/// The zone this contract lives in (scratch memory).
pub fn zone() []const u8 {
    var tmp: [64]u8 = undefined;
    const n: usize = @intCast(host.zone(&tmp, tmp.len));
    const take = if (n < tmp.len) n else tmp.len;
    return concat(&.{tmp[0..take]});
}
pub fn blockHeight() i64 {
    return host.block_height();
}
/// Block time from the header, ms since the Unix epoch: the same on every node.
pub fn blockTimeMs() i64 {
    return host.block_time_ms();
}
pub fn txHash() Hash {
    var out: Hash = undefined;
    host.tx_hash(&out);
    return out;
}
pub fn gasLeft() i64 {
    return host.gas_left();
}

/// Abort with `message` unless the immediate caller is `who`.
pub fn requireCaller(who: *const Address, message: []const u8) void {
    const actual = caller();
    if (!eql(&actual, who)) abort(message);
}

// ---------------------------------------------------------------------------
// Cross-contract calls
// ---------------------------------------------------------------------------

pub const CallResult = struct {
    /// true when the callee succeeded; false when it failed (its state
    /// changes are reverted, ours are kept unless we abort).
    ok: bool,
    /// The callee's return data when ok, its error message otherwise
    /// (scratch memory).
    data: []const u8,
};

/// Call `method` of the contract at `target` with canonically encoded `args`,
/// giving it at most `gas`.
pub fn call(target: *const Address, method: []const u8, args: []const u8, gas: i64) CallResult {
    const status = host.call_contract(target, method.ptr, len32(method), args.ptr, len32(args), gas);
    var probe: [0]u8 = .{};
    const size = host.call_result_read(&probe, 0);
    const data = alloc(@intCast(if (size < 0) 0 else size));
    _ = host.call_result_read(data.ptr, len32(data));
    return .{ .ok = status == 0, .data = data };
}

/// As `call`, but a failed callee aborts this call too, with
/// "call to METHOD failed: <callee's message>".
pub fn callOrAbort(target: *const Address, method: []const u8, args: []const u8, gas: i64) []const u8 {
    const result = call(target, method, args, gas);
    if (!result.ok) abortParts(&.{ "call to ", method, " failed: ", result.data });
    return result.data;
}

// ---------------------------------------------------------------------------
// Hashes and signatures
// ---------------------------------------------------------------------------

pub fn sha256(data: []const u8) Hash {
    var out: Hash = undefined;
    host.sha256(data.ptr, len32(data), &out);
    return out;
}
pub fn blake2b256(data: []const u8) Hash {
    var out: Hash = undefined;
    host.blake2b256(data.ptr, len32(data), &out);
    return out;
}
pub fn ed25519Verify(public_key: *const PublicKey, message: []const u8, signature: *const Signature) bool {
    return host.ed25519_verify(public_key, message.ptr, len32(message), signature) == 1;
}

// ---------------------------------------------------------------------------
// Checked arithmetic: abort with a message instead of wrapping
// ---------------------------------------------------------------------------

pub fn checkedAdd(comptime T: type, a: T, b: T, message: []const u8) T {
    const result = @addWithOverflow(a, b);
    if (result[1] != 0) abort(message);
    return result[0];
}
pub fn checkedSub(comptime T: type, a: T, b: T, message: []const u8) T {
    const result = @subWithOverflow(a, b);
    if (result[1] != 0) abort(message);
    return result[0];
}
pub fn checkedMul(comptime T: type, a: T, b: T, message: []const u8) T {
    const result = @mulWithOverflow(a, b);
    if (result[1] != 0) abort(message);
    return result[0];
}
pub fn addU128(a: u128, b: u128, message: []const u8) u128 {
    return checkedAdd(u128, a, b, message);
}
pub fn subU128(a: u128, b: u128, message: []const u8) u128 {
    return checkedSub(u128, a, b, message);
}

/// `a * b / divisor`, rounded down, with a 256-bit intermediate product so
/// that `a * b` cannot overflow; aborts with `message` when the quotient does
/// not fit in a u128 or `divisor` is 0. For pro-rata shares and exchange rates.
pub fn mulDivFloor(a: u128, b: u128, divisor: u128, message: []const u8) u128 {
    if (divisor == 0) abort(message);
    const wide = @as(u256, a) * @as(u256, b) / @as(u256, divisor);
    if (wide > @as(u256, ~@as(u128, 0))) abort(message);
    return @intCast(wide);
}

// ---------------------------------------------------------------------------
// Calling a token contract (contracts/zones/token/token.abi.json)
// ---------------------------------------------------------------------------

/// A handle on a token contract, for contracts that move balances (escrow,
/// delivery versus payment, payments). Each mover takes `context`, the start
/// of the abort message when the token refuses, e.g. "escrow failed" gives
/// "escrow failed: aborted: allowance exceeded". Our abort discards the
/// token's changes together with ours, so a refused move leaves no trace.
/// The calling contract is the token's `caller`: `transfer` moves the
/// contract's own units, `transferFrom` needs an allowance to the contract.
pub const Token = struct {
    address: Address,

    pub fn at(address: Address) Token {
        return .{ .address = address };
    }

    /// Move `amount` of this contract's units to `to`.
    pub fn transfer(self: *const Token, to: *const Address, amount: u128, context: []const u8) void {
        var args = Writer.init(20 + 16);
        args.address(to);
        args.writeU128(amount);
        self.invoke("transfer", args.slice(), context);
    }

    /// Move `amount` from `from` to `to` under `from`'s allowance to this contract.
    pub fn transferFrom(self: *const Token, from: *const Address, to: *const Address, amount: u128, context: []const u8) void {
        const result = self.tryTransferFrom(from, to, amount);
        if (!result.ok) abortParts(&.{ context, ": ", result.data });
    }

    /// As `transferFrom`, but a refusal is returned instead of aborting (the
    /// token's changes are already discarded when `ok` is false).
    pub fn tryTransferFrom(self: *const Token, from: *const Address, to: *const Address, amount: u128) CallResult {
        var args = Writer.init(20 + 20 + 16);
        args.address(from);
        args.address(to);
        args.writeU128(amount);
        return call(&self.address, "transfer_from", args.slice(), -1);
    }

    /// The token's `balance_of(owner)`.
    pub fn balanceOf(self: *const Token, owner: *const Address) u128 {
        const data = self.query("balance_of", owner);
        if (data.len != 16) abort("token query returned a malformed balance");
        var reader = Reader.init(data);
        return reader.readU128("balance");
    }

    /// The token's `issuer()`.
    pub fn issuer(self: *const Token) Address {
        const data = self.query("issuer", &.{});
        if (data.len != 20) abort("token query returned a malformed address");
        return data[0..20].*;
    }

    fn query(self: *const Token, method: []const u8, args: []const u8) []const u8 {
        const result = call(&self.address, method, args, -1);
        if (!result.ok) abortParts(&.{ "token query ", method, " failed: ", result.data });
        return result.data;
    }

    fn invoke(self: *const Token, method: []const u8, args: []const u8, context: []const u8) void {
        const result = call(&self.address, method, args, -1);
        if (!result.ok) abortParts(&.{ context, ": ", result.data });
    }
};
