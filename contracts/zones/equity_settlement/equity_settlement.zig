//! equity_settlement: delivery versus payment (DvP) of securities against
//! cash, both being token contracts (contracts/zones/token), and dividend
//! distribution as a corporate action.
//!
//! Roles:
//!   buyer, seller  each submit a settlement instruction for a trade and may
//!                  cancel their own pending instruction; beforehand the
//!                  seller approves this contract on the security token for
//!                  the quantity, the buyer on the cash token for
//!                  quantity * price
//!   issuer         the security token's issuer (its `issuer()` query)
//!                  distributes dividends
//!
//! An instruction is keyed by trade id, side (1 = buy, 2 = sell) and its
//! submitter, so nobody can occupy another party's slot for a trade id.
//! Instruction states:
//!   (none) or cancelled --instruct--> pending           [instructed]
//!   pending --cancel (submitter)----> cancelled         [instruction_cancelled]
//!   pending --matching instruct-----> settled (both)    [settled]
//! When an instruction arrives, the contract looks up the instruction of the
//! counterparty it names, for the same trade id and the other side. If that
//! one is pending:
//!   - the terms match (it names the arriving submitter as its counterparty;
//!     same security, cash token, quantity and price): the trade settles in
//!     the same call.
//!     The contract moves the securities seller -> buyer and the cash
//!     (quantity * price) buyer -> seller with transfer_from. If either leg
//!     fails (insufficient securities or cash, missing approval) the whole
//!     call aborts ("securities leg failed: ...", "cash leg failed: ..."):
//!     nothing moves, the arriving instruction is not recorded, and the
//!     counterparty's instruction stays pending, so the submitter can fund
//!     and submit again.
//!   - they do not match: the arriving instruction is recorded, both stay
//!     pending, and a `mismatch` event names the first differing field
//!     (counterparty, security, cash, quantity, price, in that order). A
//!     party cancels and resubmits to correct.
//! If the named counterparty has no pending instruction yet, the arriving
//! one waits for it.
//! settled is final; a cancelled instruction's slot can be submitted again.
//!
//! Price: cash units (the cash token's smallest unit) per security unit; the
//! cash amount quantity * price must fit in a u128 (checked at instruct).
//!
//! Dividends: the issuer names the cash token, an amount and the holders
//! (at most 64, sorted ascending, no duplicates). Balances are read from the
//! security token (cross-contract query). The amount is pulled from the
//! issuer with transfer_from; holder i gets floor(amount * balance_i / total)
//! where total is the sum of the listed holders' balances (256-bit
//! intermediate product, no overflow); the remainder left by rounding down
//! (less than the number of holders) goes back to the issuer.
//!
//! Storage: "ins:" ++ trade_id (32 B) ++ side (1 B) ++ submitter (20 B) ->
//! instruction record,
//! which get_instruction returns (canonical encoding): state u8 (1 pending,
//! 2 settled, 3 cancelled), submitter address, counterparty address,
//! security address, quantity u128, price u128, cash address,
//! submitted_height u64. "next_dividend" counts dividends.
//!
//! Determinism and safety: no floats; amounts only through checked u128
//! arithmetic; holders are processed in the order given (sorted).

const zc = @import("zonechain");

const State = enum(u8) {
    pending = 1,
    settled = 2,
    cancelled = 3,
};

const SIDE_BUY: u8 = 1;
const SIDE_SELL: u8 = 2;

/// Upper bound on one distribution: each holder costs two events (the
/// token's transfer and dividend_paid) and vm/limits.py allows 256 per call.
const DIVIDEND_HOLDERS_MAX = 64;

/// 1 + 3*20 + 16 + 16 + 20 + 8
const RECORD_BYTES = 121;
const EVENT_BYTES_MAX = 160;

const instructions = zc.Map.init("ins:");
const next_dividend = zc.Counter.init("next_dividend");

const Instruction = struct {
    state: State,
    submitter: zc.Address,
    counterparty: zc.Address,
    security: zc.Address,
    quantity: u128,
    price: u128,
    cash: zc.Address,
    submitted_height: u64,

    fn encode(self: *const Instruction) []const u8 {
        var w = zc.Writer.init(RECORD_BYTES);
        w.writeU8(@intFromEnum(self.state));
        w.address(&self.submitter);
        w.address(&self.counterparty);
        w.address(&self.security);
        w.writeU128(self.quantity);
        w.writeU128(self.price);
        w.address(&self.cash);
        w.writeU64(self.submitted_height);
        return w.slice();
    }

    fn decode(bytes: []const u8) Instruction {
        var r = zc.Reader.init(bytes);
        const state_byte = r.readU8("state");
        if (state_byte < 1 or state_byte > 3) zc.abort("corrupt stored instruction");
        const out = Instruction{
            .state = @enumFromInt(state_byte),
            .submitter = r.address("submitter"),
            .counterparty = r.address("counterparty"),
            .security = r.address("security"),
            .quantity = r.readU128("quantity"),
            .price = r.readU128("price"),
            .cash = r.address("cash"),
            .submitted_height = r.readU64("submitted_height"),
        };
        r.finish();
        return out;
    }

    fn cashAmount(self: *const Instruction) u128 {
        return zc.checkedMul(u128, self.quantity, self.price, "cash amount overflow");
    }
};

// --- trading parties -------------------------------------------------------

export fn instruct() void {
    var args = zc.input();
    const trade_id = args.hash("trade_id");
    const side = args.readU8("side");
    const arriving = Instruction{
        .state = .pending,
        .submitter = zc.caller(),
        .security = args.address("security"),
        .quantity = args.readU128("quantity"),
        .price = args.readU128("price"),
        .cash = args.address("cash"),
        .counterparty = args.address("counterparty"),
        .submitted_height = @intCast(zc.blockHeight()),
    };
    args.finish();

    zc.require(side == SIDE_BUY or side == SIDE_SELL, "side must be 1 (buy) or 2 (sell)");
    zc.require(arriving.quantity > 0, "quantity must be positive");
    zc.require(arriving.price > 0, "price must be positive");
    _ = arriving.cashAmount();
    zc.require(!zc.eql(&arriving.security, &arriving.cash), "security and cash tokens must differ");
    zc.require(!zc.eql(&arriving.submitter, &arriving.counterparty), "counterparty must differ from the submitter");
    if (load(&trade_id, side, &arriving.submitter)) |existing| {
        zc.require(existing.state == .cancelled, "an instruction for this trade and side already exists");
    }

    save(&trade_id, side, &arriving);
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.hash(&trade_id);
    data.writeU8(side);
    data.address(&arriving.submitter);
    zc.emit("instructed", data.slice());

    const other_side = if (side == SIDE_BUY) SIDE_SELL else SIDE_BUY;
    var other = load(&trade_id, other_side, &arriving.counterparty) orelse return;
    if (other.state != .pending) return;
    if (firstDifference(&arriving, &other)) |field| {
        var report = zc.Writer.init(EVENT_BYTES_MAX);
        report.hash(&trade_id);
        report.string(field);
        zc.emit("mismatch", report.slice());
        return;
    }
    var settled = arriving;
    if (side == SIDE_BUY) settle(&trade_id, &settled, &other) else settle(&trade_id, &other, &settled);
}

export fn cancel() void {
    var args = zc.input();
    const trade_id = args.hash("trade_id");
    const side = args.readU8("side");
    args.finish();
    const submitter = zc.caller();
    var instruction = load(&trade_id, side, &submitter) orelse zc.abort("unknown instruction");
    zc.require(instruction.state == .pending, "instruction is not pending");
    instruction.state = .cancelled;
    save(&trade_id, side, &instruction);
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.hash(&trade_id);
    data.writeU8(side);
    data.address(&submitter);
    zc.emit("instruction_cancelled", data.slice());
}

export fn get_instruction() void {
    var args = zc.input();
    const trade_id = args.hash("trade_id");
    const side = args.readU8("side");
    const submitter = args.address("submitter");
    args.finish();
    const instruction = load(&trade_id, side, &submitter) orelse zc.abort("unknown instruction");
    zc.returnBytes(instruction.encode());
}

// --- corporate actions ---------------------------------------------------------

export fn distribute_dividend() void {
    var args = zc.input();
    const security = zc.Token.at(args.address("security"));
    const cash = zc.Token.at(args.address("cash"));
    const amount = args.readU128("amount");
    const count = args.listLen("holders");
    zc.require(count >= 1 and count <= DIVIDEND_HOLDERS_MAX, "holders must list 1 to 64 accounts");
    var holders: [DIVIDEND_HOLDERS_MAX]zc.Address = undefined;
    for (holders[0..count], 0..) |*holder, index| {
        holder.* = args.address("holders");
        if (index > 0 and !lessThan(&holders[index - 1], holder)) zc.abort("holders must be sorted ascending without duplicates");
    }
    args.finish();

    const issuer = zc.caller();
    const security_issuer = security.issuer();
    zc.require(zc.eql(&issuer, &security_issuer), "only the security's issuer may distribute a dividend");
    zc.require(amount > 0, "amount must be positive");
    zc.require(!zc.eql(&security.address, &cash.address), "security and cash tokens must differ");

    var balances: [DIVIDEND_HOLDERS_MAX]u128 = undefined;
    var total: u128 = 0;
    for (holders[0..count], balances[0..count]) |*holder, *balance| {
        balance.* = security.balanceOf(holder);
        total = zc.addU128(total, balance.*, "total holdings overflow");
    }
    zc.require(total > 0, "the listed holders hold none of the security");

    const self = zc.selfAddress();
    cash.transferFrom(&issuer, &self, amount, "dividend deposit failed");
    const dividend_id = next_dividend.increment();
    var paid: u128 = 0;
    for (holders[0..count], balances[0..count]) |*holder, balance| {
        const share = zc.mulDivFloor(amount, balance, total, "dividend share overflow");
        if (share == 0) continue;
        cash.transfer(holder, share, "dividend payment failed");
        paid = zc.addU128(paid, share, "dividend overflow");
        var data = zc.Writer.init(EVENT_BYTES_MAX);
        data.writeU64(dividend_id);
        data.address(holder);
        data.writeU128(share);
        zc.emit("dividend_paid", data.slice());
    }
    const remainder = zc.subU128(amount, paid, "dividend shares exceed the amount");
    if (remainder > 0) cash.transfer(&issuer, remainder, "dividend remainder failed");

    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.writeU64(dividend_id);
    data.address(&security.address);
    data.address(&cash.address);
    data.writeU128(amount);
    data.writeU128(paid);
    data.writeU128(remainder);
    zc.emit("dividend_distributed", data.slice());
    zc.returnU64(dividend_id);
}

// --- helpers ---------------------------------------------------------------------

fn instructionKey(trade_id: *const zc.Hash, side: u8, submitter: *const zc.Address) []u8 {
    return instructions.key(zc.concat(&.{ trade_id, &.{side}, submitter }));
}

fn load(trade_id: *const zc.Hash, side: u8, submitter: *const zc.Address) ?Instruction {
    const bytes = zc.storageGet(instructionKey(trade_id, side, submitter)) orelse return null;
    return Instruction.decode(bytes);
}

fn save(trade_id: *const zc.Hash, side: u8, instruction: *const Instruction) void {
    zc.storageSet(instructionKey(trade_id, side, &instruction.submitter), instruction.encode());
}

/// The first field in which two instructions for one trade disagree, or null.
fn firstDifference(a: *const Instruction, b: *const Instruction) ?[]const u8 {
    if (!zc.eql(&a.counterparty, &b.submitter) or !zc.eql(&b.counterparty, &a.submitter)) return "counterparty";
    if (!zc.eql(&a.security, &b.security)) return "security";
    if (!zc.eql(&a.cash, &b.cash)) return "cash";
    if (a.quantity != b.quantity) return "quantity";
    if (a.price != b.price) return "price";
    return null;
}

/// Both legs or neither: a refused leg aborts the whole call.
fn settle(trade_id: *const zc.Hash, buy: *Instruction, sell: *Instruction) void {
    const cash_amount = buy.cashAmount();
    zc.Token.at(buy.security).transferFrom(&sell.submitter, &buy.submitter, buy.quantity, "securities leg failed");
    zc.Token.at(buy.cash).transferFrom(&buy.submitter, &sell.submitter, cash_amount, "cash leg failed");
    buy.state = .settled;
    sell.state = .settled;
    save(trade_id, SIDE_BUY, buy);
    save(trade_id, SIDE_SELL, sell);
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.hash(trade_id);
    data.address(&buy.submitter);
    data.address(&sell.submitter);
    data.address(&buy.security);
    data.writeU128(buy.quantity);
    data.address(&buy.cash);
    data.writeU128(cash_amount);
    zc.emit("settled", data.slice());
}

fn lessThan(a: *const zc.Address, b: *const zc.Address) bool {
    for (a, b) |x, y| {
        if (x != y) return x < y;
    }
    return false;
}
