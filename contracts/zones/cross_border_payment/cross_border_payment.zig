//! cross_border_payment: payments between banks in different jurisdictions
//! and currencies, converted at an FX provider's quote, screened against the
//! regulator's rules, settled atomically across two currency tokens
//! (contracts/zones/token), and tracked by payment id.
//!
//! Roles:
//!   admin        the deployer: sets the regulator, registers and deregisters
//!                FX providers
//!   regulator    blocks and unblocks accounts; sets per-currency limits
//!   FX provider  posts quotes; pays the target currency (approves this
//!                contract on the target token beforehand)
//!   sender bank  creates payments (approves this contract on the source
//!                token beforehand), may cancel a cleared payment
//!   beneficiary  receives the target currency
//!
//! Quotes: source token, target token, rate, expiry height. The rate is a
//! fixed-point number with 9 decimals (RATE_SCALE = 10^9 means 1:1): target
//! amount = floor(source amount * rate / 10^9), computed with a 256-bit
//! intermediate product; rounding down leaves the fraction of a target unit
//! with the FX provider. A quote is usable up to and including its expiry
//! height.
//!
//! Payment states (reason codes in brackets):
//!   initiated          created; screened in the same call, so it never stays
//!                      here (the tracker shows it through payment_initiated)
//!   compliance_cleared the rules passed; the source amount is escrowed in
//!                      this contract (transfer_from sender -> contract)
//!   settled            final: the FX provider paid the beneficiary the target
//!                      amount (transfer_from provider -> beneficiary) and the
//!                      escrow went to the provider, in one call
//!   rejected           final, nothing moved: 1 sender_blocked,
//!                      2 beneficiary_blocked, 3 over_transaction_limit,
//!                      4 over_daily_limit, 5 quote_expired,
//!                      7 provider_not_registered
//!   refunded           final, escrow returned to the sender: 5 quote_expired
//!                      (at settlement), 6 cancelled_by_sender
//! Transitions:
//!   create_payment (sender): initiated -> compliance_cleared | rejected
//!   settle_payment (sender or the quote's provider): compliance_cleared ->
//!     settled, or refunded [5] when the quote has expired. If the provider's
//!     leg is refused (funds, approval), the call aborts ("fx leg failed:
//!     ..."): nothing moves and the payment stays compliance_cleared.
//!   cancel_payment (sender): compliance_cleared -> refunded [6]
//!
//! Compliance rules, checked in the order of the reason codes: a blocked
//! sender or beneficiary; per source currency a per-transaction maximum and a
//! daily maximum per sender (0 = no limit; a currency without rules has no
//! limits). "Daily" is the UTC day of the block time from the block header
//! (block_time_ms / 86,400,000), so every node agrees. Every cleared payment
//! counts towards its day's total, even if later refunded.
//!
//! Storage: "admin", "regulator" (addresses); "fx:" ++ provider -> 01;
//! "blocked:" ++ account -> 01; "limits:" ++ token -> per_transaction_max
//! u128 ++ daily_max u128; "used:" ++ sender ++ token ++ day (u64 LE) -> u128;
//! "quote:" ++ id (u64 LE) -> quote record; "payment:" ++ id -> payment
//! record. Records are canonical encodings, returned as is by get_quote and
//! get_payment:
//!   quote:   provider address, source_token address, target_token address,
//!            rate u128, expiry_height u64
//!   payment: state u8 (1 initiated, 2 compliance_cleared, 3 settled,
//!            4 rejected, 5 refunded), reason u8 (0 none), sender address,
//!            beneficiary address, quote_id u64, fx_provider address,
//!            source_token address, target_token address, source_amount u128,
//!            target_amount u128, created_height u64, created_time_ms u64
//!
//! Determinism and safety: no floats; time only from the block header;
//! amounts only through checked u128 arithmetic.

const zc = @import("zonechain");

const RATE_SCALE: u128 = 1_000_000_000;
const MS_PER_DAY: u64 = 86_400_000;

const State = enum(u8) {
    initiated = 1,
    compliance_cleared = 2,
    settled = 3,
    rejected = 4,
    refunded = 5,
};

const Reason = enum(u8) {
    none = 0,
    sender_blocked = 1,
    beneficiary_blocked = 2,
    over_transaction_limit = 3,
    over_daily_limit = 4,
    quote_expired = 5,
    cancelled_by_sender = 6,
    provider_not_registered = 7,
};

const KEY_ADMIN = "admin";
const KEY_REGULATOR = "regulator";
const providers = zc.Map.init("fx:");
const blocked = zc.Map.init("blocked:");
const limits = zc.Map.init("limits:");
const usage = zc.Map.init("used:");
const quotes = zc.Map.init("quote:");
const payments = zc.Map.init("payment:");
const next_quote = zc.Counter.init("next_quote");
const next_payment = zc.Counter.init("next_payment");

const QUOTE_BYTES = 3 * 20 + 16 + 8;
const PAYMENT_BYTES = 2 + 5 * 20 + 8 + 2 * 16 + 2 * 8;
const EVENT_BYTES_MAX = 160;

const Quote = struct {
    provider: zc.Address,
    source_token: zc.Address,
    target_token: zc.Address,
    rate: u128,
    expiry_height: u64,

    fn encode(self: *const Quote) []const u8 {
        var w = zc.Writer.init(QUOTE_BYTES);
        w.address(&self.provider);
        w.address(&self.source_token);
        w.address(&self.target_token);
        w.writeU128(self.rate);
        w.writeU64(self.expiry_height);
        return w.slice();
    }

    fn decode(bytes: []const u8) Quote {
        var r = zc.Reader.init(bytes);
        const out = Quote{
            .provider = r.address("provider"),
            .source_token = r.address("source_token"),
            .target_token = r.address("target_token"),
            .rate = r.readU128("rate"),
            .expiry_height = r.readU64("expiry_height"),
        };
        r.finish();
        return out;
    }
};

const Payment = struct {
    state: State,
    reason: Reason = .none,
    sender: zc.Address,
    beneficiary: zc.Address,
    quote_id: u64,
    fx_provider: zc.Address,
    source_token: zc.Address,
    target_token: zc.Address,
    source_amount: u128,
    target_amount: u128,
    created_height: u64,
    created_time_ms: u64,

    fn encode(self: *const Payment) []const u8 {
        var w = zc.Writer.init(PAYMENT_BYTES);
        w.writeU8(@intFromEnum(self.state));
        w.writeU8(@intFromEnum(self.reason));
        w.address(&self.sender);
        w.address(&self.beneficiary);
        w.writeU64(self.quote_id);
        w.address(&self.fx_provider);
        w.address(&self.source_token);
        w.address(&self.target_token);
        w.writeU128(self.source_amount);
        w.writeU128(self.target_amount);
        w.writeU64(self.created_height);
        w.writeU64(self.created_time_ms);
        return w.slice();
    }

    fn decode(bytes: []const u8) Payment {
        var r = zc.Reader.init(bytes);
        const state_byte = r.readU8("state");
        const reason_byte = r.readU8("reason");
        if (state_byte < 1 or state_byte > 5 or reason_byte > 7) zc.abort("corrupt stored payment");
        const out = Payment{
            .state = @enumFromInt(state_byte),
            .reason = @enumFromInt(reason_byte),
            .sender = r.address("sender"),
            .beneficiary = r.address("beneficiary"),
            .quote_id = r.readU64("quote_id"),
            .fx_provider = r.address("fx_provider"),
            .source_token = r.address("source_token"),
            .target_token = r.address("target_token"),
            .source_amount = r.readU128("source_amount"),
            .target_amount = r.readU128("target_amount"),
            .created_height = r.readU64("created_height"),
            .created_time_ms = r.readU64("created_time_ms"),
        };
        r.finish();
        return out;
    }
};

// --- deploy and administration ---------------------------------------------------

export fn init() void {
    zc.noArgs();
    zc.require(!zc.storageHas(KEY_ADMIN), "already initialized");
    const admin = zc.caller();
    zc.storageSetAddress(KEY_ADMIN, &admin);
}

export fn set_regulator() void {
    var args = zc.input();
    const regulator = args.address("regulator");
    args.finish();
    requireAdmin("only the admin may set the regulator");
    zc.storageSetAddress(KEY_REGULATOR, &regulator);
    zc.emit("regulator_set", &regulator);
}

export fn register_fx_provider() void {
    setProvider(true, "fx_provider_registered");
}

export fn deregister_fx_provider() void {
    setProvider(false, "fx_provider_deregistered");
}

// --- regulator ---------------------------------------------------------------------

export fn set_blocked() void {
    var args = zc.input();
    const account = args.address("account");
    const is_blocked = args.boolean("blocked");
    args.finish();
    requireRegulator();
    if (is_blocked) blocked.set(&account, &.{1}) else blocked.remove(&account);
    var data = zc.Writer.init(21);
    data.address(&account);
    data.boolean(is_blocked);
    zc.emit("account_blocked", data.slice());
}

export fn set_limits() void {
    var args = zc.input();
    const token = args.address("token");
    const per_transaction_max = args.readU128("per_transaction_max");
    const daily_max = args.readU128("daily_max");
    args.finish();
    requireRegulator();
    var value = zc.Writer.init(32);
    value.writeU128(per_transaction_max);
    value.writeU128(daily_max);
    limits.set(&token, value.slice());
    var data = zc.Writer.init(52);
    data.address(&token);
    data.writeU128(per_transaction_max);
    data.writeU128(daily_max);
    zc.emit("limits_set", data.slice());
}

// --- FX providers --------------------------------------------------------------------

export fn post_quote() void {
    var args = zc.input();
    const quote = Quote{
        .provider = zc.caller(),
        .source_token = args.address("source_token"),
        .target_token = args.address("target_token"),
        .rate = args.readU128("rate"),
        .expiry_height = args.readU64("expiry_height"),
    };
    args.finish();
    zc.require(providers.has(&quote.provider), "only a registered FX provider may post quotes");
    zc.require(!zc.eql(&quote.source_token, &quote.target_token), "quote tokens must differ");
    zc.require(quote.rate > 0, "rate must be positive");
    zc.require(quote.expiry_height > currentHeight(), "expiry must be after the current height");
    const id = next_quote.increment();
    quotes.set(&idKey(id), quote.encode());
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.writeU64(id);
    data.address(&quote.provider);
    data.address(&quote.source_token);
    data.address(&quote.target_token);
    data.writeU128(quote.rate);
    data.writeU64(quote.expiry_height);
    zc.emit("quote_posted", data.slice());
    zc.returnU64(id);
}

// --- payments ----------------------------------------------------------------------------

export fn create_payment() void {
    var args = zc.input();
    const beneficiary = args.address("beneficiary");
    const amount = args.readU128("amount");
    const quote_id = args.readU64("quote_id");
    args.finish();
    const sender = zc.caller();
    zc.require(amount > 0, "amount must be positive");
    zc.require(!zc.eql(&sender, &beneficiary), "beneficiary must differ from the sender");
    const quote = loadQuote(quote_id);
    const target_amount = zc.mulDivFloor(amount, quote.rate, RATE_SCALE, "converted amount overflow");
    zc.require(target_amount > 0, "converted amount is zero");

    const id = next_payment.increment();
    var payment = Payment{
        .state = .initiated,
        .sender = sender,
        .beneficiary = beneficiary,
        .quote_id = quote_id,
        .fx_provider = quote.provider,
        .source_token = quote.source_token,
        .target_token = quote.target_token,
        .source_amount = amount,
        .target_amount = target_amount,
        .created_height = currentHeight(),
        .created_time_ms = @intCast(zc.blockTimeMs()),
    };
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.writeU64(id);
    data.address(&sender);
    data.address(&beneficiary);
    data.writeU64(quote_id);
    data.writeU128(amount);
    data.writeU128(target_amount);
    zc.emit("payment_initiated", data.slice());

    const reason = screen(&payment, &quote);
    if (reason != .none) {
        payment.state = .rejected;
        payment.reason = reason;
        savePayment(id, &payment);
        emitReason("payment_rejected", id, reason);
    } else {
        const self = zc.selfAddress();
        zc.Token.at(payment.source_token).transferFrom(&sender, &self, amount, "escrow failed");
        payment.state = .compliance_cleared;
        savePayment(id, &payment);
        emitId("payment_cleared", id);
    }
    zc.returnU64(id);
}

export fn settle_payment() void {
    const id = readId();
    var payment = loadPayment(id);
    const who = zc.caller();
    zc.require(zc.eql(&who, &payment.sender) or zc.eql(&who, &payment.fx_provider), "only the sender or the FX provider may settle the payment");
    requireState(&payment, .compliance_cleared);
    const quote = loadQuote(payment.quote_id);
    if (currentHeight() > quote.expiry_height) {
        refund(id, &payment, .quote_expired);
        return;
    }
    const fx_leg = zc.Token.at(payment.target_token).tryTransferFrom(&payment.fx_provider, &payment.beneficiary, payment.target_amount);
    if (!fx_leg.ok) zc.abortParts(&.{ "fx leg failed: ", fx_leg.data });
    zc.Token.at(payment.source_token).transfer(&payment.fx_provider, payment.source_amount, "source leg failed");
    payment.state = .settled;
    savePayment(id, &payment);
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.writeU64(id);
    data.writeU128(payment.source_amount);
    data.writeU128(payment.target_amount);
    zc.emit("payment_settled", data.slice());
}

export fn cancel_payment() void {
    const id = readId();
    var payment = loadPayment(id);
    zc.requireCaller(&payment.sender, "only the sender may cancel the payment");
    requireState(&payment, .compliance_cleared);
    refund(id, &payment, .cancelled_by_sender);
}

// --- queries ---------------------------------------------------------------------------------

export fn get_payment() void {
    const id = readId();
    zc.returnBytes(loadPayment(id).encode());
}

export fn get_quote() void {
    var args = zc.input();
    const id = args.readU64("quote_id");
    args.finish();
    zc.returnBytes(loadQuote(id).encode());
}

export fn used_today() void {
    var args = zc.input();
    const sender = args.address("sender");
    const token = args.address("token");
    args.finish();
    zc.returnU128(usage.getU128(usageKey(&sender, &token)));
}

export fn is_fx_provider() void {
    var args = zc.input();
    const account = args.address("account");
    args.finish();
    zc.returnBool(providers.has(&account));
}

// --- helpers ---------------------------------------------------------------------------------

/// The first rule the payment breaks, or .none; records the day's usage when
/// it passes.
fn screen(payment: *const Payment, quote: *const Quote) Reason {
    if (blocked.has(&payment.sender)) return .sender_blocked;
    if (blocked.has(&payment.beneficiary)) return .beneficiary_blocked;
    var per_transaction_max: u128 = 0;
    var daily_max: u128 = 0;
    if (limits.get(&payment.source_token)) |stored| {
        var r = zc.Reader.init(stored);
        per_transaction_max = r.readU128("per_transaction_max");
        daily_max = r.readU128("daily_max");
        r.finish();
    }
    if (per_transaction_max != 0 and payment.source_amount > per_transaction_max) return .over_transaction_limit;
    const key = usageKey(&payment.sender, &payment.source_token);
    const used = usage.getU128(key);
    const after = @addWithOverflow(used, payment.source_amount);
    if (daily_max != 0 and (after[1] != 0 or after[0] > daily_max)) return .over_daily_limit;
    if (currentHeight() > quote.expiry_height) return .quote_expired;
    if (!providers.has(&quote.provider)) return .provider_not_registered;
    if (after[1] != 0) zc.abort("daily usage overflow");
    usage.setU128(key, after[0]);
    return .none;
}

/// The usage map's key: sender ++ token ++ today's UTC day index (u64 LE).
fn usageKey(sender: *const zc.Address, token: *const zc.Address) []u8 {
    const now: u64 = @intCast(zc.blockTimeMs());
    var day = zc.Writer.init(8);
    day.writeU64(now / MS_PER_DAY);
    return zc.concat(&.{ sender, token, day.slice() });
}

fn refund(id: u64, payment: *Payment, reason: Reason) void {
    zc.Token.at(payment.source_token).transfer(&payment.sender, payment.source_amount, "refund failed");
    payment.state = .refunded;
    payment.reason = reason;
    savePayment(id, payment);
    emitReason("payment_refunded", id, reason);
}

fn setProvider(registered: bool, topic: []const u8) void {
    var args = zc.input();
    const provider = args.address("provider");
    args.finish();
    requireAdmin("only the admin may register FX providers");
    if (registered) providers.set(&provider, &.{1}) else providers.remove(&provider);
    zc.emit(topic, &provider);
}

fn requireAdmin(message: []const u8) void {
    const admin = zc.storageGetAddress(KEY_ADMIN) orelse zc.abort("not initialized");
    zc.requireCaller(&admin, message);
}

fn requireRegulator() void {
    const regulator = zc.storageGetAddress(KEY_REGULATOR) orelse zc.abort("no regulator is set");
    zc.requireCaller(&regulator, "only the regulator may set compliance rules");
}

fn requireState(payment: *const Payment, expected: State) void {
    if (payment.state != expected) zc.abortParts(&.{ "payment is not in state ", @tagName(expected) });
}

fn readId() u64 {
    var args = zc.input();
    const id = args.readU64("payment_id");
    args.finish();
    return id;
}

fn currentHeight() u64 {
    return @intCast(zc.blockHeight());
}

fn idKey(id: u64) [8]u8 {
    var w = zc.Writer.init(8);
    w.writeU64(id);
    return w.slice()[0..8].*;
}

fn loadQuote(id: u64) Quote {
    const bytes = quotes.get(&idKey(id)) orelse zc.abort("unknown quote");
    return Quote.decode(bytes);
}

fn loadPayment(id: u64) Payment {
    const bytes = payments.get(&idKey(id)) orelse zc.abort("unknown payment");
    return Payment.decode(bytes);
}

fn savePayment(id: u64, payment: *const Payment) void {
    payments.set(&idKey(id), payment.encode());
}

fn emitId(topic: []const u8, id: u64) void {
    const key = idKey(id);
    zc.emit(topic, &key);
}

fn emitReason(topic: []const u8, id: u64, reason: Reason) void {
    var data = zc.Writer.init(9);
    data.writeU64(id);
    data.writeU8(@intFromEnum(reason));
    zc.emit(topic, data.slice());
}
