//! probe: exercises the author library (contracts/lib/zonechain.zig) through
//! the real VM, for tests/contracts/test_library.py. Each echo_T method reads
//! one T with the library's Reader and writes it back with its Writer, so the
//! Zig codec can be compared byte for byte with the Python one.

const zc = @import("zonechain");

fn echoInt(comptime T: type) void {
    var args = zc.input();
    const value = switch (T) {
        u8 => args.readU8("value"),
        u16 => args.readU16("value"),
        u32 => args.readU32("value"),
        u64 => args.readU64("value"),
        u128 => args.readU128("value"),
        i32 => args.readI32("value"),
        i64 => args.readI64("value"),
        else => @compileError("not an ABI integer"),
    };
    args.finish();
    var out = zc.Writer.init(16);
    switch (T) {
        u8 => out.writeU8(value),
        u16 => out.writeU16(value),
        u32 => out.writeU32(value),
        u64 => out.writeU64(value),
        u128 => out.writeU128(value),
        i32 => out.writeI32(value),
        i64 => out.writeI64(value),
        else => unreachable,
    }
    zc.returnWriter(&out);
}

export fn echo_u8() void {
    echoInt(u8);
}
export fn echo_u16() void {
    echoInt(u16);
}
export fn echo_u32() void {
    echoInt(u32);
}
export fn echo_u64() void {
    echoInt(u64);
}
export fn echo_u128() void {
    echoInt(u128);
}
export fn echo_i32() void {
    echoInt(i32);
}
export fn echo_i64() void {
    echoInt(i64);
}

export fn echo_bool() void {
    var args = zc.input();
    const value = args.boolean("value");
    args.finish();
    zc.returnBool(value);
}

export fn echo_address() void {
    var args = zc.input();
    const value = args.address("value");
    args.finish();
    zc.returnAddress(&value);
}

export fn echo_hash() void {
    var args = zc.input();
    const value = args.hash("value");
    args.finish();
    zc.returnHash(&value);
}

export fn echo_bytes() void {
    var args = zc.input();
    const value = args.bytes("value");
    args.finish();
    zc.returnBytes(value);
}

export fn echo_string() void {
    var args = zc.input();
    const value = args.string("value");
    args.finish();
    zc.returnString(value);
}

export fn echo_list_u16() void {
    var args = zc.input();
    const count = args.listLen("value");
    var out = zc.Writer.init(4 + 2 * @as(usize, count));
    out.listLen(count);
    var i: u32 = 0;
    while (i < count) : (i += 1) out.writeU16(args.readU16("value item"));
    args.finish();
    zc.returnWriter(&out);
}

export fn echo_optional_address() void {
    var args = zc.input();
    var out = zc.Writer.init(21);
    if (args.optionalTag("value")) {
        const value = args.address("value");
        out.optionalTag(true);
        out.address(&value);
    } else out.optionalTag(false);
    args.finish();
    zc.returnWriter(&out);
}

/// Plain `+`: overflow is caught by ReleaseSafe and the library's panic handler.
export fn add_unchecked() void {
    var args = zc.input();
    const a = args.readU64("a");
    const b = args.readU64("b");
    args.finish();
    zc.returnU64(a + b);
}

export fn index_small() void {
    var args = zc.input();
    const i = args.readU32("i");
    args.finish();
    const table = [_]u8{ 10, 20, 30, 40 };
    zc.returnU8(table[i]);
}

export fn store() void {
    var args = zc.input();
    const key = args.bytes("key");
    const value = args.readU128("value");
    args.finish();
    zc.storageSetU128(key, value);
}

export fn load() void {
    var args = zc.input();
    const key = args.bytes("key");
    args.finish();
    var out = zc.Writer.init(17);
    if (zc.storageGetU128(key)) |value| {
        out.optionalTag(true);
        out.writeU128(value);
    } else out.optionalTag(false);
    zc.returnWriter(&out);
}

const counter = zc.Counter.init("next_id");

export fn next_id() void {
    zc.noArgs();
    zc.returnU64(counter.increment());
}

export fn hashes() void {
    var args = zc.input();
    const data = args.bytes("data");
    args.finish();
    const a = zc.sha256(data);
    const b = zc.blake2b256(data);
    var out = zc.Writer.init(4 + 64);
    out.listLen(2);
    out.hash(&a);
    out.hash(&b);
    zc.returnWriter(&out);
}

/// caller ++ origin ++ self ++ zone (bytes) ++ height (i64) ++ time (i64) ++ tx hash.
export fn context() void {
    zc.noArgs();
    const who = zc.caller();
    const signer = zc.origin();
    const me = zc.selfAddress();
    const tx = zc.txHash();
    var inner = zc.Writer.init(20 * 3 + 4 + 64 + 16 + 32);
    inner.address(&who);
    inner.address(&signer);
    inner.address(&me);
    inner.string(zc.zone());
    inner.writeI64(zc.blockHeight());
    inner.writeI64(zc.blockTimeMs());
    inner.hash(&tx);
    zc.returnBytes(inner.slice());
}

export fn fail_with() void {
    var args = zc.input();
    const name = args.string("name");
    args.finish();
    zc.abortParts(&.{ "unknown asset '", name, "'" });
}

export fn checked() void {
    var args = zc.input();
    const a = args.readU128("a");
    const b = args.readU128("b");
    args.finish();
    zc.returnU128(zc.subU128(a, b, "amount exceeds balance"));
}

/// Calls `method` of `target` with raw `args`; the callee's result comes back
/// as bytes, and a failed callee fails this call with the library's message.
export fn call_other() void {
    var args = zc.input();
    const target = args.address("target");
    const method = args.string("method");
    const call_args = args.bytes("args");
    args.finish();
    const result = zc.callOrAbort(&target, method, call_args, 1_000_000);
    zc.returnBytes(result);
}

/// Every stored key under `prefix`, in order.
export fn keys() void {
    var args = zc.input();
    const prefix = args.bytes("prefix");
    args.finish();
    var out = zc.Writer.init(4096);
    var count: u32 = 0;
    var key = zc.nextKey(prefix, null);
    while (key) |k| : (key = zc.nextKey(prefix, k)) count += 1;
    out.listLen(count);
    key = zc.nextKey(prefix, null);
    while (key) |k| : (key = zc.nextKey(prefix, k)) out.bytes(k);
    zc.returnWriter(&out);
}
