//! letter_of_credit: a documentary credit for trade finance, in the manner of
//! UCP 600. The buyer (applicant) asks its bank (the issuing bank) to pay the
//! seller (beneficiary) against documents that show the goods were shipped.
//!
//! Roles (fixed per credit at request time; three different accounts):
//!   applicant     requests, cancels a request, proposes amendments, waives
//!                 or refuses discrepant documents; its tokens are escrowed
//!   issuing bank  issues (escrowing the amount), proposes amendments,
//!                 examines presented documents
//!   beneficiary   accepts or rejects amendments, presents documents, is paid
//!   anyone        returns the funds of an expired credit to the applicant
//!
//! States and transitions (each one emits the event named in brackets):
//!   requested  --cancel_request (applicant)------------------> cancelled  [credit_cancelled]
//!   requested  --issue_credit (bank; escrow)------------------> issued    [credit_issued]
//!   issued     --propose/accept/reject_amendment--------------> issued    [amendment_*]
//!   issued     --present_documents (beneficiary, <= expiry)---> presented [documents_presented]
//!   presented  --examine(compliant) (bank; pay)----------------> paid      [documents_examined, credit_paid]
//!   presented  --examine(discrepant) (bank)--------------------> discrepant [documents_examined]
//!   discrepant --waive_discrepancies (applicant; pay)----------> paid      [discrepancies_waived, credit_paid]
//!   discrepant --refuse_documents (applicant; refund)----------> refunded  [documents_refused, funds_returned]
//!   issued or discrepant, height > expiry --expire_credit (anyone; refund)
//!                                                              -> expired   [credit_expired, funds_returned]
//! paid, refunded, expired and cancelled are final. A presentation made by the
//! expiry height is examined even after it (UCP 600 art. 14: the bank's
//! examination period runs from presentation), so `presented` cannot expire.
//!
//! Money: the amount is escrowed in the contract itself. On issue the
//! contract calls currency.transfer_from(applicant -> contract) (the applicant
//! approves the contract first); payment and refunds are
//! currency.transfer(contract -> beneficiary / applicant). A token refusal
//! aborts the whole call, so nothing is half-applied.
//!
//! Amendments (UCP 600 art. 10): the applicant or the bank proposes a new
//! amount and expiry while the credit is issued; it binds only when the
//! beneficiary accepts. Accepting an increase escrows the difference from the
//! applicant; a decrease returns the difference. A new proposal replaces a
//! pending one; presenting documents under the original terms rejects it.
//!
//! Documents: bit 0 bill_of_lading, bit 1 invoice, bit 2 packing_list, bit 3
//! certificate_of_origin. A presentation carries a 32-byte hash of each
//! document; every required kind must be present. The bank compares the
//! documents with the hashes off chain and records only its decision.
//!
//! Storage: "next_id" (u64 counter) and "credit:" ++ id (u64 LE) -> the credit
//! record, whose bytes are also what get_credit returns (canonical encoding):
//!   state u8 (1 requested, 2 issued, 3 presented, 4 discrepant, 5 paid,
//!   6 refunded, 7 expired, 8 cancelled), applicant address, issuing_bank
//!   address, beneficiary address, currency address, amount u128,
//!   expiry_height u64, required_documents u8, presented_documents u8,
//!   bill_of_lading hash, invoice hash, packing_list hash,
//!   certificate_of_origin hash (zero when not presented),
//!   amendment_pending bool, amendment_amount u128, amendment_expiry u64.
//!
//! Determinism and safety: no floats, heights from the block header, amounts
//! changed only through checked u128 arithmetic.

const zc = @import("zonechain");

const State = enum(u8) {
    requested = 1,
    issued = 2,
    presented = 3,
    discrepant = 4,
    paid = 5,
    refunded = 6,
    expired = 7,
    cancelled = 8,
};

const DOCUMENT_KINDS = 4;
const DOCUMENT_NAMES = [DOCUMENT_KINDS][]const u8{ "bill_of_lading", "invoice", "packing_list", "certificate_of_origin" };
/// Every document kind's bit set.
const ALL_DOCUMENTS: u8 = (1 << DOCUMENT_KINDS) - 1;
const ZERO_HASH: zc.Hash = @splat(0);

/// Encoded record: 1 + 4*20 + 16 + 8 + 1 + 1 + 4*32 + 1 + 16 + 8.
const RECORD_BYTES = 260;
/// Largest event: credit_requested (8 + 4*20 + 16 + 8 + 1).
const EVENT_BYTES_MAX = 128;

const credits = zc.Map.init("credit:");
const next_id = zc.Counter.init("next_id");

const Credit = struct {
    state: State,
    applicant: zc.Address,
    issuing_bank: zc.Address,
    beneficiary: zc.Address,
    currency: zc.Address,
    amount: u128,
    expiry_height: u64,
    required_documents: u8,
    presented_documents: u8 = 0,
    documents: [DOCUMENT_KINDS]zc.Hash = @splat(ZERO_HASH),
    amendment_pending: bool = false,
    amendment_amount: u128 = 0,
    amendment_expiry: u64 = 0,

    fn encode(self: *const Credit) []const u8 {
        var w = zc.Writer.init(RECORD_BYTES);
        w.writeU8(@intFromEnum(self.state));
        w.address(&self.applicant);
        w.address(&self.issuing_bank);
        w.address(&self.beneficiary);
        w.address(&self.currency);
        w.writeU128(self.amount);
        w.writeU64(self.expiry_height);
        w.writeU8(self.required_documents);
        w.writeU8(self.presented_documents);
        for (&self.documents) |*document| w.hash(document);
        w.boolean(self.amendment_pending);
        w.writeU128(self.amendment_amount);
        w.writeU64(self.amendment_expiry);
        return w.slice();
    }

    fn decode(bytes: []const u8) Credit {
        var r = zc.Reader.init(bytes);
        const state_byte = r.readU8("state");
        if (state_byte < 1 or state_byte > 8) zc.abort("corrupt stored credit");
        var credit = Credit{
            .state = @enumFromInt(state_byte),
            .applicant = r.address("applicant"),
            .issuing_bank = r.address("issuing_bank"),
            .beneficiary = r.address("beneficiary"),
            .currency = r.address("currency"),
            .amount = r.readU128("amount"),
            .expiry_height = r.readU64("expiry_height"),
            .required_documents = r.readU8("required_documents"),
        };
        credit.presented_documents = r.readU8("presented_documents");
        for (&credit.documents) |*document| document.* = r.hash("document");
        credit.amendment_pending = r.boolean("amendment_pending");
        credit.amendment_amount = r.readU128("amendment_amount");
        credit.amendment_expiry = r.readU64("amendment_expiry");
        r.finish();
        return credit;
    }
};

// --- applicant -----------------------------------------------------------

export fn request_credit() void {
    var args = zc.input();
    const issuing_bank = args.address("issuing_bank");
    const beneficiary = args.address("beneficiary");
    const currency = args.address("currency");
    const amount = args.readU128("amount");
    const expiry_height = args.readU64("expiry_height");
    const required_documents = args.readU8("required_documents");
    args.finish();

    const applicant = zc.caller();
    zc.require(amount > 0, "amount must be positive");
    zc.require(expiry_height > currentHeight(), "expiry must be after the current height");
    zc.require(required_documents != 0 and required_documents & ~ALL_DOCUMENTS == 0, "required documents must be a non-empty set of known kinds (bits 0-3)");
    zc.require(!zc.eql(&applicant, &issuing_bank) and !zc.eql(&applicant, &beneficiary) and !zc.eql(&issuing_bank, &beneficiary), "applicant, issuing bank and beneficiary must be three different accounts");

    const id = next_id.increment();
    const credit = Credit{
        .state = .requested,
        .applicant = applicant,
        .issuing_bank = issuing_bank,
        .beneficiary = beneficiary,
        .currency = currency,
        .amount = amount,
        .expiry_height = expiry_height,
        .required_documents = required_documents,
    };
    save(id, &credit);

    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.writeU64(id);
    data.address(&applicant);
    data.address(&issuing_bank);
    data.address(&beneficiary);
    data.address(&currency);
    data.writeU128(amount);
    data.writeU64(expiry_height);
    data.writeU8(required_documents);
    zc.emit("credit_requested", data.slice());
    zc.returnU64(id);
}

export fn cancel_request() void {
    const id = readId();
    var credit = load(id);
    zc.requireCaller(&credit.applicant, "only the applicant may cancel the request");
    requireState(&credit, .requested);
    credit.state = .cancelled;
    save(id, &credit);
    emitId("credit_cancelled", id);
}

export fn waive_discrepancies() void {
    const id = readId();
    var credit = load(id);
    zc.requireCaller(&credit.applicant, "only the applicant may waive discrepancies");
    requireState(&credit, .discrepant);
    emitId("discrepancies_waived", id);
    pay(id, &credit);
}

export fn refuse_documents() void {
    const id = readId();
    var credit = load(id);
    zc.requireCaller(&credit.applicant, "only the applicant may refuse the documents");
    requireState(&credit, .discrepant);
    emitId("documents_refused", id);
    returnFunds(id, &credit, .refunded);
}

// --- issuing bank ----------------------------------------------------------

export fn issue_credit() void {
    const id = readId();
    var credit = load(id);
    zc.requireCaller(&credit.issuing_bank, "only the issuing bank may issue the credit");
    requireState(&credit, .requested);
    zc.require(currentHeight() <= credit.expiry_height, "credit has expired");
    const self = zc.selfAddress();
    zc.Token.at(credit.currency).transferFrom(&credit.applicant, &self, credit.amount, "escrow failed");
    credit.state = .issued;
    save(id, &credit);
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.writeU64(id);
    data.writeU128(credit.amount);
    zc.emit("credit_issued", data.slice());
}

export fn examine() void {
    var args = zc.input();
    const id = args.readU64("credit_id");
    const compliant = args.boolean("compliant");
    args.finish();
    var credit = load(id);
    zc.requireCaller(&credit.issuing_bank, "only the issuing bank may examine");
    requireState(&credit, .presented);
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.writeU64(id);
    data.boolean(compliant);
    zc.emit("documents_examined", data.slice());
    if (compliant) {
        pay(id, &credit);
    } else {
        credit.state = .discrepant;
        save(id, &credit);
    }
}

// --- amendments --------------------------------------------------------------

export fn propose_amendment() void {
    var args = zc.input();
    const id = args.readU64("credit_id");
    const amount = args.readU128("amount");
    const expiry_height = args.readU64("expiry_height");
    args.finish();
    var credit = load(id);
    const proposer = zc.caller();
    zc.require(zc.eql(&proposer, &credit.applicant) or zc.eql(&proposer, &credit.issuing_bank), "only the applicant or the issuing bank may propose an amendment");
    requireState(&credit, .issued);
    zc.require(amount > 0, "amount must be positive");
    zc.require(expiry_height > currentHeight(), "expiry must be after the current height");
    credit.amendment_pending = true;
    credit.amendment_amount = amount;
    credit.amendment_expiry = expiry_height;
    save(id, &credit);
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.writeU64(id);
    data.address(&proposer);
    data.writeU128(amount);
    data.writeU64(expiry_height);
    zc.emit("amendment_proposed", data.slice());
}

export fn accept_amendment() void {
    const id = readId();
    var credit = load(id);
    zc.requireCaller(&credit.beneficiary, "only the beneficiary may accept an amendment");
    requireState(&credit, .issued);
    zc.require(credit.amendment_pending, "no amendment is pending");
    zc.require(credit.amendment_expiry > currentHeight(), "the amended expiry has passed");
    const token = zc.Token.at(credit.currency);
    const self = zc.selfAddress();
    if (credit.amendment_amount > credit.amount) {
        const increase = zc.subU128(credit.amendment_amount, credit.amount, "amount underflow");
        token.transferFrom(&credit.applicant, &self, increase, "escrow failed");
    } else if (credit.amendment_amount < credit.amount) {
        const decrease = zc.subU128(credit.amount, credit.amendment_amount, "amount underflow");
        token.transfer(&credit.applicant, decrease, "refund failed");
    }
    credit.amount = credit.amendment_amount;
    credit.expiry_height = credit.amendment_expiry;
    clearAmendment(&credit);
    save(id, &credit);
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.writeU64(id);
    data.writeU128(credit.amount);
    data.writeU64(credit.expiry_height);
    zc.emit("amendment_accepted", data.slice());
}

export fn reject_amendment() void {
    const id = readId();
    var credit = load(id);
    zc.requireCaller(&credit.beneficiary, "only the beneficiary may reject an amendment");
    requireState(&credit, .issued);
    zc.require(credit.amendment_pending, "no amendment is pending");
    clearAmendment(&credit);
    save(id, &credit);
    emitId("amendment_rejected", id);
}

// --- beneficiary -------------------------------------------------------------

export fn present_documents() void {
    var args = zc.input();
    const id = args.readU64("credit_id");
    var presented: u8 = 0;
    var hashes: [DOCUMENT_KINDS]zc.Hash = @splat(ZERO_HASH);
    for (DOCUMENT_NAMES, 0..) |kind, index| {
        if (args.optionalTag(kind)) {
            hashes[index] = args.hash(kind);
            zc.require(!zc.eql(&hashes[index], &ZERO_HASH), "a document hash must not be zero");
            presented |= @as(u8, 1) << @intCast(index);
        }
    }
    args.finish();
    var credit = load(id);
    zc.requireCaller(&credit.beneficiary, "only the beneficiary may present documents");
    requireState(&credit, .issued);
    zc.require(currentHeight() <= credit.expiry_height, "credit has expired");
    for (DOCUMENT_NAMES, 0..) |kind, index| {
        const bit = @as(u8, 1) << @intCast(index);
        if (credit.required_documents & bit != 0 and presented & bit == 0) {
            zc.abortParts(&.{ "missing required document: ", kind });
        }
    }
    const rejected_amendment = credit.amendment_pending;
    clearAmendment(&credit);
    credit.presented_documents = presented;
    credit.documents = hashes;
    credit.state = .presented;
    save(id, &credit);
    if (rejected_amendment) emitId("amendment_rejected", id);
    var data = zc.Writer.init(EVENT_BYTES_MAX);
    data.writeU64(id);
    data.writeU8(presented);
    zc.emit("documents_presented", data.slice());
}

// --- anyone --------------------------------------------------------------------

export fn expire_credit() void {
    const id = readId();
    var credit = load(id);
    zc.require(credit.state == .issued or credit.state == .discrepant, "only an issued or discrepant credit can expire");
    zc.require(currentHeight() > credit.expiry_height, "credit has not expired yet");
    emitId("credit_expired", id);
    returnFunds(id, &credit, .expired);
}

export fn get_credit() void {
    const id = readId();
    const credit = load(id);
    zc.returnBytes(credit.encode());
}

export fn credit_count() void {
    zc.noArgs();
    zc.returnU64(next_id.get());
}

// --- helpers -------------------------------------------------------------------

fn readId() u64 {
    var args = zc.input();
    const id = args.readU64("credit_id");
    args.finish();
    return id;
}

fn currentHeight() u64 {
    return @intCast(zc.blockHeight());
}

fn load(id: u64) Credit {
    var key: [8]u8 = undefined;
    encodeId(id, &key);
    const bytes = credits.get(&key) orelse zc.abort("unknown credit");
    return Credit.decode(bytes);
}

fn save(id: u64, credit: *const Credit) void {
    var key: [8]u8 = undefined;
    encodeId(id, &key);
    credits.set(&key, credit.encode());
}

fn encodeId(id: u64, out: *[8]u8) void {
    var w = zc.Writer.init(8);
    w.writeU64(id);
    @memcpy(out, w.slice());
}

fn requireState(credit: *const Credit, expected: State) void {
    if (credit.state != expected) zc.abortParts(&.{ "credit is not in state ", @tagName(expected) });
}

fn clearAmendment(credit: *Credit) void {
    credit.amendment_pending = false;
    credit.amendment_amount = 0;
    credit.amendment_expiry = 0;
}

/// Pay the escrowed amount to the beneficiary: state paid, event credit_paid.
fn pay(id: u64, credit: *Credit) void {
    zc.Token.at(credit.currency).transfer(&credit.beneficiary, credit.amount, "payment failed");
    credit.state = .paid;
    save(id, credit);
    emitMovement("credit_paid", id, &credit.beneficiary, credit.amount);
}

/// Return the escrowed amount to the applicant: event funds_returned.
fn returnFunds(id: u64, credit: *Credit, final_state: State) void {
    zc.Token.at(credit.currency).transfer(&credit.applicant, credit.amount, "refund failed");
    credit.state = final_state;
    save(id, credit);
    emitMovement("funds_returned", id, &credit.applicant, credit.amount);
}

fn emitId(topic: []const u8, id: u64) void {
    var data = zc.Writer.init(8);
    data.writeU64(id);
    zc.emit(topic, data.slice());
}

fn emitMovement(topic: []const u8, id: u64, to: *const zc.Address, amount: u128) void {
    var data = zc.Writer.init(8 + 20 + 16);
    data.writeU64(id);
    data.address(to);
    data.writeU128(amount);
    zc.emit(topic, data.slice());
}
