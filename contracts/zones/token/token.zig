//! token: a fungible asset for a business zone (deposit tokens, e-money,
//! settlement coins).
//!
//! The account that deploys the contract is its issuer: only the issuer mints
//! new units and burns units it holds (redemption: a holder transfers units
//! back to the issuer, who burns them). Holders transfer, approve a spender,
//! and spenders move approved units with transfer_from.
//!
//! Invariants:
//! - total_supply equals the sum of all balances; every change goes through
//!   overflow-checked u128 arithmetic that aborts instead of wrapping.
//! - A failed call changes nothing (the host discards its writes), so each
//!   method checks, then writes.
//! - Events carry exactly the fields of token.abi.json, in that order.
//!
//! Storage layout (keys are part of the contract's state, so of consensus):
//!   "name" / "symbol" / "decimals" / "issuer" / "supply"   metadata, u128 supply
//!   "bal:" ++ owner (20 B)                                 balance, u128; absent = 0
//!   "allow:" ++ owner (20 B) ++ spender (20 B)             allowance, u128; absent = 0

const zc = @import("zonechain");

const KEY_NAME = "name";
const KEY_SYMBOL = "symbol";
const KEY_DECIMALS = "decimals";
const KEY_ISSUER = "issuer";
const KEY_SUPPLY = "supply";

const balances = zc.Map.init("bal:");
const allowances = zc.Map.init("allow:");

/// Longest accepted name and symbol, in bytes.
const NAME_BYTES_MAX = 64;
const SYMBOL_BYTES_MAX = 16;
/// 10^38 < 2^128 <= 10^39: more decimals than 38 cannot represent one unit.
const DECIMALS_MAX = 38;

/// Encoded size of the largest event (two addresses and a u128).
const EVENT_BYTES_MAX = 20 + 20 + 16;

// --- deploy --------------------------------------------------------------

export fn init() void {
    var args = zc.input();
    const name_text = args.string("name");
    const symbol_text = args.string("symbol");
    const decimals_value = args.readU8("decimals");
    args.finish();

    zc.require(!zc.storageHas(KEY_ISSUER), "already initialized");
    zc.require(name_text.len >= 1 and name_text.len <= NAME_BYTES_MAX, "name must be 1 to 64 bytes");
    zc.require(symbol_text.len >= 1 and symbol_text.len <= SYMBOL_BYTES_MAX, "symbol must be 1 to 16 bytes");
    zc.require(decimals_value <= DECIMALS_MAX, "decimals must be at most 38");

    const issuer_address = zc.caller();
    zc.storageSet(KEY_NAME, name_text);
    zc.storageSet(KEY_SYMBOL, symbol_text);
    zc.storageSet(KEY_DECIMALS, &.{decimals_value});
    zc.storageSetAddress(KEY_ISSUER, &issuer_address);
    zc.storageSetU128(KEY_SUPPLY, 0);
}

// --- read-only -----------------------------------------------------------

export fn name() void {
    zc.noArgs();
    zc.returnString(zc.storageGet(KEY_NAME) orelse zc.abort("not initialized"));
}

export fn symbol() void {
    zc.noArgs();
    zc.returnString(zc.storageGet(KEY_SYMBOL) orelse zc.abort("not initialized"));
}

export fn decimals() void {
    zc.noArgs();
    const stored = zc.storageGet(KEY_DECIMALS) orelse zc.abort("not initialized");
    zc.returnU8(stored[0]);
}

export fn issuer() void {
    zc.noArgs();
    const stored = loadIssuer();
    zc.returnAddress(&stored);
}

export fn total_supply() void {
    zc.noArgs();
    zc.returnU128(zc.storageGetU128(KEY_SUPPLY) orelse 0);
}

export fn balance_of() void {
    var args = zc.input();
    const owner = args.address("owner");
    args.finish();
    zc.returnU128(balances.getU128(&owner));
}

export fn allowance() void {
    var args = zc.input();
    const owner = args.address("owner");
    const spender = args.address("spender");
    args.finish();
    zc.returnU128(zc.storageGetU128(allowances.key2(&owner, &spender)) orelse 0);
}

// --- holders -------------------------------------------------------------

export fn transfer() void {
    var args = zc.input();
    const to = args.address("to");
    const amount = args.readU128("amount");
    args.finish();
    const from = zc.caller();
    move(&from, &to, amount);
}

export fn approve() void {
    var args = zc.input();
    const spender = args.address("spender");
    const amount = args.readU128("amount");
    args.finish();
    const owner = zc.caller();
    setAllowance(&owner, &spender, amount);
    emitPair("approval", &owner, &spender, amount);
}

export fn transfer_from() void {
    var args = zc.input();
    const from = args.address("from");
    const to = args.address("to");
    const amount = args.readU128("amount");
    args.finish();
    const spender = zc.caller();
    const approved = zc.storageGetU128(allowances.key2(&from, &spender)) orelse 0;
    const remaining = zc.checkedSub(u128, approved, amount, "allowance exceeded");
    setAllowance(&from, &spender, remaining);
    move(&from, &to, amount);
}

// --- issuer --------------------------------------------------------------

export fn mint() void {
    var args = zc.input();
    const to = args.address("to");
    const amount = args.readU128("amount");
    args.finish();
    requireIssuer();
    const supply = zc.storageGetU128(KEY_SUPPLY) orelse 0;
    zc.storageSetU128(KEY_SUPPLY, zc.addU128(supply, amount, "total supply overflow"));
    // balance <= supply, so this cannot overflow once the supply did not.
    balances.setU128(&to, zc.addU128(balances.getU128(&to), amount, "balance overflow"));
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.address(&to);
    data.writeU128(amount);
    zc.emit("mint", data.slice());
}

export fn burn() void {
    var args = zc.input();
    const amount = args.readU128("amount");
    args.finish();
    requireIssuer();
    const holder = zc.caller();
    const balance = balances.getU128(&holder);
    balances.setU128(&holder, zc.subU128(balance, amount, "insufficient balance"));
    const supply = zc.storageGetU128(KEY_SUPPLY) orelse 0;
    zc.storageSetU128(KEY_SUPPLY, zc.subU128(supply, amount, "total supply underflow"));
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.address(&holder);
    data.writeU128(amount);
    zc.emit("burn", data.slice());
}

// --- helpers -------------------------------------------------------------

fn loadIssuer() zc.Address {
    return zc.storageGetAddress(KEY_ISSUER) orelse zc.abort("not initialized");
}

fn requireIssuer() void {
    const expected = loadIssuer();
    zc.requireCaller(&expected, "caller is not the issuer");
}

/// Move `amount` from `from` to `to` and emit "transfer". The debit is
/// written before the credit is read, so a transfer to oneself is a no-op.
fn move(from: *const zc.Address, to: *const zc.Address, amount: u128) void {
    const from_balance = balances.getU128(from);
    balances.setU128(from, zc.subU128(from_balance, amount, "insufficient balance"));
    balances.setU128(to, zc.addU128(balances.getU128(to), amount, "balance overflow"));
    emitPair("transfer", from, to, amount);
}

fn setAllowance(owner: *const zc.Address, spender: *const zc.Address, amount: u128) void {
    const key = allowances.key2(owner, spender);
    if (amount == 0) zc.storageRemove(key) else zc.storageSetU128(key, amount);
}

fn emitPair(topic: []const u8, a: *const zc.Address, b: *const zc.Address, amount: u128) void {
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.address(a);
    data.address(b);
    data.writeU128(amount);
    zc.emit(topic, data.slice());
}
