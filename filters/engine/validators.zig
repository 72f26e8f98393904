//! The validators the engine runs on candidate matches, ported from
//! controlplane/detectors/validators.py (the reference) so both agree on every
//! input. Ids are part of the table format: the same numbers as VALIDATORS there,
//! append only. Integer arithmetic only; no allocation; loops bounded by the value.

const std = @import("std");
const assert = std.debug.assert;
const Sha256 = std.crypto.hash.sha2.Sha256;

/// Highest validator id this engine has (ids 1..count).
pub const count: u16 = 27;

pub fn run(id: u16, value: []const u8, parameter: u32) bool {
    assert(id >= 1 and id <= count);
    return switch (id) {
        1 => luhn(value),
        2 => usSsn(value),
        3 => usItin(value),
        4 => abaRouting(value),
        5 => iban(value),
        6 => ukNhs(value),
        7 => ukNino(value),
        8 => entropy(value, parameter),
        9 => calendarDate(value),
        10 => esNif(value),
        11 => esNie(value),
        12 => auAbn(value),
        13 => auAcn(value),
        14 => auTfn(value),
        15 => auMedicare(value),
        16 => inAadhaar(value),
        17 => plPesel(value),
        18 => fiHetu(value),
        19 => sgNric(value),
        20 => itFiscalCode(value),
        21 => usNpi(value),
        22 => caSin(value),
        23 => nlBsn(value),
        24 => brCpf(value),
        25 => jwt(value),
        26 => ipv6(value),
        27 => bitcoinAddress(value),
        else => unreachable, // tables naming other ids are refused at load
    };
}

// -- Shared helpers -------------------------------------------------------------

fn isDigit(byte: u8) bool {
    return byte >= '0' and byte <= '9';
}

fn isUpper(byte: u8) bool {
    return byte >= 'A' and byte <= 'Z';
}

fn isAlnum(byte: u8) bool {
    return isDigit(byte) or isUpper(byte) or (byte >= 'a' and byte <= 'z');
}

fn toUpper(byte: u8) u8 {
    return if (byte >= 'a' and byte <= 'z') byte - 32 else byte;
}

/// The ASCII digits of a value; `len` counts them all, the first `stored_max` are kept.
const Digits = struct {
    const stored_max = 24;
    values: [stored_max]u8 = undefined,
    len: usize = 0,

    fn of(value: []const u8) Digits {
        var digits: Digits = .{};
        for (value) |byte| {
            if (!isDigit(byte)) continue;
            if (digits.len < stored_max) digits.values[digits.len] = byte - '0';
            digits.len += 1;
        }
        return digits;
    }

    fn slice(self: *const Digits) []const u8 {
        assert(self.len <= stored_max);
        return self.values[0..self.len];
    }

    fn distinct(self: *const Digits) u32 {
        var seen: u16 = 0;
        for (self.slice()) |digit| seen |= @as(u16, 1) << @intCast(digit);
        return @popCount(seen);
    }

    fn weighted(self: *const Digits, weights: []const u8) u32 {
        assert(weights.len <= self.len);
        var total: u32 = 0;
        for (weights, 0..) |weight, index| total += @as(u32, self.values[index]) * weight;
        return total;
    }
};

/// Distinct bytes that are not ASCII letters or digits (separators), counted up to 2.
fn separatorKinds(value: []const u8) u32 {
    var first: ?u8 = null;
    for (value) |byte| {
        if (isAlnum(byte)) continue;
        if (first) |seen| {
            if (seen != byte) return 2;
        } else first = byte;
    }
    return @intFromBool(first != null);
}

/// The ASCII letters and digits of a value, letters upper-cased; `len` counts them all.
const AlnumUpper = struct {
    const stored_max = 40;
    chars: [stored_max]u8 = undefined,
    len: usize = 0,

    fn of(value: []const u8) AlnumUpper {
        var text: AlnumUpper = .{};
        for (value) |byte| {
            if (!isAlnum(byte)) continue;
            if (text.len < stored_max) text.chars[text.len] = toUpper(byte);
            text.len += 1;
        }
        return text;
    }

    fn slice(self: *const AlnumUpper) []const u8 {
        assert(self.len <= stored_max);
        return self.chars[0..self.len];
    }
};

fn allDigits(text: []const u8) bool {
    if (text.len == 0) return false;
    for (text) |byte| {
        if (!isDigit(byte)) return false;
    }
    return true;
}

fn decimal(text: []const u8) u64 {
    assert(text.len <= 18);
    var number: u64 = 0;
    for (text) |byte| number = number * 10 + (byte - '0');
    return number;
}

fn contains(set: []const u8, byte: u8) bool {
    return std.mem.indexOfScalar(u8, set, byte) != null;
}

fn luhnOk(digits: []const u8) bool {
    var total: u32 = 0;
    for (digits, 0..) |_, index| {
        const digit: u32 = digits[digits.len - 1 - index];
        const doubled = if (index % 2 == 1) digit * 2 else digit;
        total += if (doubled > 9) doubled - 9 else doubled;
    }
    return total % 10 == 0;
}

// -- Validators -----------------------------------------------------------------

fn luhn(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len < 12 or digits.len > 19 or separatorKinds(value) > 1) return false;
    return digits.distinct() > 1 and luhnOk(digits.slice());
}

fn usSsn(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len != 9 or separatorKinds(value) > 1 or digits.distinct() == 1) return false;
    const d = digits.slice();
    const area = @as(u32, d[0]) * 100 + @as(u32, d[1]) * 10 + d[2];
    const group = @as(u32, d[3]) * 10 + d[4];
    const serial = @as(u32, d[5]) * 1000 + @as(u32, d[6]) * 100 + @as(u32, d[7]) * 10 + d[8];
    if (area == 0 or area == 666 or d[0] == 9 or group == 0 or serial == 0) return false;
    const number = area * 1_000_000 + group * 10_000 + serial;
    return number != 123456789 and number != 78051120 and number != 219099999;
}

fn usItin(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len != 9 or digits.values[0] != 9 or separatorKinds(value) > 1) return false;
    const group = @as(u32, digits.values[3]) * 10 + digits.values[4];
    return (group >= 50 and group <= 65) or (group >= 70 and group <= 88) or
        (group >= 90 and group <= 92) or (group >= 94 and group <= 99);
}

fn abaRouting(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len != 9) return false;
    const prefix = @as(u32, digits.values[0]) * 10 + digits.values[1];
    if (!(prefix <= 12 or (prefix >= 21 and prefix <= 32) or (prefix >= 61 and prefix <= 72) or prefix == 80)) return false;
    return digits.weighted(&.{ 3, 7, 1, 3, 7, 1, 3, 7, 1 }) % 10 == 0 and digits.distinct() > 1;
}

const iban_lengths = [_]struct { []const u8, u8 }{
    .{ "AD", 24 }, .{ "AE", 23 }, .{ "AL", 28 }, .{ "AT", 20 }, .{ "AZ", 28 }, .{ "BA", 20 }, .{ "BE", 16 },
    .{ "BG", 22 }, .{ "BH", 22 }, .{ "BR", 29 }, .{ "BY", 28 }, .{ "CH", 21 }, .{ "CR", 22 }, .{ "CY", 28 },
    .{ "CZ", 24 }, .{ "DE", 22 }, .{ "DK", 18 }, .{ "DO", 28 }, .{ "EE", 20 }, .{ "EG", 29 }, .{ "ES", 24 },
    .{ "FI", 18 }, .{ "FO", 18 }, .{ "FR", 27 }, .{ "GB", 22 }, .{ "GE", 22 }, .{ "GI", 23 }, .{ "GL", 18 },
    .{ "GR", 27 }, .{ "GT", 28 }, .{ "HR", 21 }, .{ "HU", 28 }, .{ "IE", 22 }, .{ "IL", 23 }, .{ "IQ", 23 },
    .{ "IS", 26 }, .{ "IT", 27 }, .{ "JO", 30 }, .{ "KW", 30 }, .{ "KZ", 20 }, .{ "LB", 28 }, .{ "LC", 32 },
    .{ "LI", 21 }, .{ "LT", 20 }, .{ "LU", 20 }, .{ "LV", 21 }, .{ "MC", 27 }, .{ "MD", 24 }, .{ "ME", 22 },
    .{ "MK", 19 }, .{ "MR", 27 }, .{ "MT", 31 }, .{ "MU", 30 }, .{ "NL", 18 }, .{ "NO", 15 }, .{ "PK", 24 },
    .{ "PL", 28 }, .{ "PS", 29 }, .{ "PT", 25 }, .{ "QA", 29 }, .{ "RO", 24 }, .{ "RS", 22 }, .{ "SA", 24 },
    .{ "SC", 31 }, .{ "SE", 24 }, .{ "SI", 19 }, .{ "SK", 24 }, .{ "SM", 27 }, .{ "ST", 25 }, .{ "SV", 28 },
    .{ "TL", 23 }, .{ "TN", 24 }, .{ "TR", 26 }, .{ "UA", 29 }, .{ "VA", 22 }, .{ "VG", 24 }, .{ "XK", 20 },
};

fn ibanLength(country: []const u8) ?u8 {
    for (iban_lengths) |entry| {
        if (std.mem.eql(u8, entry[0], country)) return entry[1];
    }
    return null;
}

/// The value of a digit or upper-case letter in base 36.
fn base36(char: u8) u32 {
    return if (isDigit(char)) char - '0' else char - 'A' + 10;
}

fn iban(value: []const u8) bool {
    const text = AlnumUpper.of(value);
    if (text.len < 4 or text.len > AlnumUpper.stored_max) return false;
    const chars = text.slice();
    const expected = ibanLength(chars[0..2]) orelse return false;
    if (expected != chars.len or !allDigits(chars[2..4])) return false;
    var remainder: u32 = 0;
    for (0..chars.len) |index| {
        // The first four characters move to the end.
        const char = chars[(index + 4) % chars.len];
        const number = base36(char);
        if (number >= 10) remainder = (remainder * 10 + number / 10) % 97;
        remainder = (remainder * 10 + number % 10) % 97;
    }
    return remainder == 1;
}

fn ukNhs(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len != 10 or digits.distinct() == 1) return false;
    var check = 11 - digits.weighted(&.{ 10, 9, 8, 7, 6, 5, 4, 3, 2 }) % 11;
    if (check == 11) check = 0;
    return check != 10 and check == digits.values[9];
}

fn ukNino(value: []const u8) bool {
    const text = AlnumUpper.of(value);
    if (text.len != 9) return false;
    const chars = text.slice();
    if (!allDigits(chars[2..8]) or !contains("ABCD", chars[8])) return false;
    const first = chars[0];
    const second = chars[1];
    if (contains("DFIQUV", first) or contains("DFIQUVO", second) or !(isUpper(first) and isUpper(second))) return false;
    const refused = [_][]const u8{ "BG", "GB", "KN", "NK", "NT", "TN", "ZZ" };
    for (refused) |prefix| {
        if (std.mem.eql(u8, prefix, chars[0..2])) return false;
    }
    return true;
}

/// log2(value) in 16.16 fixed point by repeated squaring, as validators.log2_q16.
pub fn log2Q16(value: u64) u64 {
    assert(value >= 1);
    const integer: u6 = @intCast(63 - @clz(value));
    var mantissa: u64 = (value << 30) >> integer;
    var fraction: u64 = 0;
    for (0..16) |_| {
        mantissa = (mantissa * mantissa) >> 30;
        fraction <<= 1;
        if (mantissa >= 1 << 31) {
            mantissa >>= 1;
            fraction |= 1;
        }
    }
    return (@as(u64, integer) << 16) | fraction;
}

fn entropy(value: []const u8, parameter: u32) bool {
    if (value.len == 0) return false;
    var counts = [_]u32{0} ** 256;
    // The distinct bytes, in order of first sight: a key holds a few dozen of 256.
    var distinct: [256]u8 = undefined;
    var distinct_count: usize = 0;
    for (value) |byte| {
        if (counts[byte] == 0) {
            distinct[distinct_count] = byte;
            distinct_count += 1;
        }
        counts[byte] += 1;
    }
    const total: u64 = value.len;
    var spread: u128 = @as(u128, total) * log2Q16Small(total);
    for (distinct[0..distinct_count]) |byte| spread -= @as(u128, counts[byte]) * log2Q16Small(counts[byte]);
    return spread * 1000 >= @as(u128, parameter) * 65536 * total;
}

/// `log2Q16`, from a table for the counts of short values.
fn log2Q16Small(value: u64) u64 {
    return if (value < log2_q16_table.len) log2_q16_table[@intCast(value)] else log2Q16(value);
}

const log2_q16_table: [256]u32 = blk: {
    @setEvalBranchQuota(200_000);
    var table: [256]u32 = undefined;
    table[0] = 0; // never looked up: a count is at least 1
    for (1..table.len) |value| table[value] = @intCast(log2Q16(value));
    break :blk table;
};

const days_in_month = [12]u8{ 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

fn validDate(year: u64, month: u64, day: u64) bool {
    if (year < 1900 or year > 2099 or month < 1 or month > 12 or day < 1 or day > days_in_month[@intCast(month - 1)]) return false;
    const leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0);
    return !(month == 2 and day == 29 and !leap);
}

fn calendarDate(value: []const u8) bool {
    // (value, digit count) of the first three digit runs; values saturate, which
    // keeps every comparison below as it would be with exact numbers.
    var numbers: [3]u64 = undefined;
    var lengths: [3]u64 = undefined;
    var groups: usize = 0;
    var number: u64 = 0;
    var length: u64 = 0;
    for (0..value.len + 1) |index| {
        const byte: u8 = if (index < value.len) value[index] else 0;
        if (isDigit(byte)) {
            number = number *| 10 +| (byte - '0');
            length += 1;
        } else if (length != 0) {
            if (groups < 3) {
                numbers[groups] = number;
                lengths[groups] = length;
            }
            groups += 1;
            number = 0;
            length = 0;
        }
    }
    if (groups != 3) return false;
    if (lengths[0] == 4) return validDate(numbers[0], numbers[1], numbers[2]);
    if (lengths[2] == 4) return validDate(numbers[2], numbers[0], numbers[1]) or validDate(numbers[2], numbers[1], numbers[0]);
    return false;
}

const nif_letters = "TRWAGMYFPDXBNJZSQVHLCKE";

fn esNif(value: []const u8) bool {
    const text = AlnumUpper.of(value);
    if (text.len != 9) return false;
    const chars = text.slice();
    return allDigits(chars[0..8]) and nif_letters[@intCast(decimal(chars[0..8]) % 23)] == chars[8];
}

fn esNie(value: []const u8) bool {
    const text = AlnumUpper.of(value);
    if (text.len != 9) return false;
    const chars = text.slice();
    const prefix = std.mem.indexOfScalar(u8, "XYZ", chars[0]) orelse return false;
    if (!allDigits(chars[1..8])) return false;
    const number = @as(u64, prefix) * 10_000_000 + decimal(chars[1..8]);
    return nif_letters[@intCast(number % 23)] == chars[8];
}

fn auAbn(value: []const u8) bool {
    var digits = Digits.of(value);
    if (digits.len != 11 or digits.values[0] == 0) return false;
    digits.values[0] -= 1;
    return digits.weighted(&.{ 10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19 }) % 89 == 0;
}

fn auAcn(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len != 9) return false;
    const total = digits.weighted(&.{ 8, 7, 6, 5, 4, 3, 2, 1 });
    return (10 - total % 10) % 10 == digits.values[8];
}

fn auTfn(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len != 9 or digits.distinct() == 1) return false;
    return digits.weighted(&.{ 1, 4, 3, 7, 5, 8, 6, 9, 10 }) % 11 == 0;
}

fn auMedicare(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len != 10 or digits.values[0] < 2 or digits.values[0] > 6) return false;
    return digits.weighted(&.{ 1, 3, 7, 9, 1, 3, 7, 9 }) % 10 == digits.values[8];
}

const verhoeff_d = [10][10]u8{
    .{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, .{ 1, 2, 3, 4, 0, 6, 7, 8, 9, 5 }, .{ 2, 3, 4, 0, 1, 7, 8, 9, 5, 6 },
    .{ 3, 4, 0, 1, 2, 8, 9, 5, 6, 7 }, .{ 4, 0, 1, 2, 3, 9, 5, 6, 7, 8 }, .{ 5, 9, 8, 7, 6, 0, 4, 3, 2, 1 },
    .{ 6, 5, 9, 8, 7, 1, 0, 4, 3, 2 }, .{ 7, 6, 5, 9, 8, 2, 1, 0, 4, 3 }, .{ 8, 7, 6, 5, 9, 3, 2, 1, 0, 4 },
    .{ 9, 8, 7, 6, 5, 4, 3, 2, 1, 0 },
};
const verhoeff_p = [8][10]u8{
    .{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, .{ 1, 5, 7, 6, 2, 8, 3, 0, 9, 4 }, .{ 5, 8, 0, 3, 7, 9, 6, 1, 4, 2 },
    .{ 8, 9, 1, 6, 0, 4, 3, 5, 2, 7 }, .{ 9, 4, 5, 3, 1, 2, 6, 8, 7, 0 }, .{ 4, 2, 8, 6, 5, 7, 3, 9, 0, 1 },
    .{ 2, 7, 9, 3, 8, 0, 6, 4, 1, 5 }, .{ 7, 0, 4, 6, 9, 1, 3, 2, 5, 8 },
};

fn inAadhaar(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len != 12 or digits.values[0] < 2 or separatorKinds(value) > 1) return false;
    var check: u8 = 0;
    for (0..12) |index| {
        const digit = digits.values[11 - index];
        check = verhoeff_d[check][verhoeff_p[index % 8][digit]];
    }
    return check == 0;
}

fn plPesel(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len != 11) return false;
    const total = digits.weighted(&.{ 1, 3, 7, 9, 1, 3, 7, 9, 1, 3 });
    const month = (@as(u32, digits.values[2]) * 10 + digits.values[3]) % 20;
    return (10 - total % 10) % 10 == digits.values[10] and month >= 1 and month <= 12;
}

const hetu_checks = "0123456789ABCDEFHJKLMNPRSTUVWXY";

fn fiHetu(value: []const u8) bool {
    // validators.py decodes as ASCII with replacement: one character per byte, and a
    // non-ASCII byte is a character that is neither a digit nor in any set below.
    if (value.len != 11) return false;
    var raw: [11]u8 = undefined;
    for (value, &raw) |byte, *char| char.* = if (byte < 0x80) toUpper(byte) else 0x80;
    if (!allDigits(raw[0..6]) or !allDigits(raw[7..10])) return false;
    const day = decimal(raw[0..2]);
    const month = decimal(raw[2..4]);
    if (day < 1 or day > 31 or month < 1 or month > 12) return false;
    const number = decimal(raw[0..6]) * 1000 + decimal(raw[7..10]);
    return contains("+-ABCDEFUVWXY", raw[6]) and hetu_checks[@intCast(number % 31)] == raw[10];
}

fn sgNric(value: []const u8) bool {
    const text = AlnumUpper.of(value);
    if (text.len != 9) return false;
    const chars = text.slice();
    const series = std.mem.indexOfScalar(u8, "STFGM", chars[0]) orelse return false;
    if (!allDigits(chars[1..8])) return false;
    const weights = [7]u32{ 2, 7, 6, 5, 4, 3, 2 };
    var total: u32 = 0;
    for (weights, chars[1..8]) |weight, char| total += (char - '0') * weight;
    const offsets = [5]u32{ 0, 4, 0, 4, 3 };
    total += offsets[series];
    const letters = [5][]const u8{ "JZIHGFEDCBA", "JZIHGFEDCBA", "XWUTRQPNMLK", "XWUTRQPNMLK", "KLJNPQRTUWX" };
    return letters[series][total % 11] == chars[8];
}

const it_odd = [26]u32{ 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23 };

fn itFiscalCode(value: []const u8) bool {
    const text = AlnumUpper.of(value);
    if (text.len != 16) return false;
    const chars = text.slice();
    if (!isUpper(chars[15])) return false;
    var total: u32 = 0;
    for (chars[0..15], 0..) |char, index| {
        const position: u32 = if (isDigit(char)) char - '0' else char - 'A';
        total += if (index % 2 == 0) it_odd[position] else position;
    }
    return 'A' + total % 26 == chars[15];
}

fn usNpi(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len != 10 or (digits.values[0] != 1 and digits.values[0] != 2)) return false;
    var prefixed = [_]u8{ 8, 0, 8, 4, 0 } ++ [_]u8{0} ** 10;
    @memcpy(prefixed[5..], digits.slice());
    return luhnOk(&prefixed);
}

fn caSin(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len != 9 or digits.values[0] == 0 or digits.values[0] == 8) return false;
    return separatorKinds(value) <= 1 and luhnOk(digits.slice());
}

fn nlBsn(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len != 9 or digits.distinct() == 1) return false;
    const total: i32 = @as(i32, @intCast(digits.weighted(&.{ 9, 8, 7, 6, 5, 4, 3, 2 }))) - digits.values[8];
    return @mod(total, 11) == 0;
}

fn brCpf(value: []const u8) bool {
    const digits = Digits.of(value);
    if (digits.len != 11 or digits.distinct() == 1) return false;
    for ([_]u32{ 9, 10 }) |position| {
        var total: u32 = 0;
        for (0..position) |index| total += @as(u32, digits.values[index]) * (position + 1 - @as(u32, @intCast(index)));
        if ((total * 10) % 11 % 10 != digits.values[position]) return false;
    }
    return true;
}

const base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn jwt(value: []const u8) bool {
    const segment = value[0 .. std.mem.indexOfScalar(u8, value, '.') orelse value.len];
    if (segment.len % 4 == 1) return false;
    // Decodes on the fly: what matters is the first non-blank byte and '"alg"'.
    const needle = "\"alg\"";
    var window: [needle.len]u8 = undefined;
    var decoded: usize = 0;
    var first: ?u8 = null;
    var has_alg = false;
    var accumulator: u32 = 0;
    var bits: u5 = 0;
    for (segment) |char| {
        const index = std.mem.indexOfScalar(u8, base64url, char) orelse return false;
        accumulator = ((accumulator << 6) | @as(u32, @intCast(index))) & 0x3FFF;
        bits += 6;
        if (bits < 8) continue;
        bits -= 8;
        const byte: u8 = @truncate(accumulator >> bits);
        if (first == null and byte != ' ' and byte != '\t' and byte != '\r' and byte != '\n') first = byte;
        std.mem.copyForwards(u8, window[0 .. needle.len - 1], window[1..]);
        window[needle.len - 1] = byte;
        decoded += 1;
        if (decoded >= needle.len and std.mem.eql(u8, &window, needle)) has_alg = true;
    }
    return first != null and first.? == '{' and has_alg;
}

fn isHex(byte: u8) bool {
    return isDigit(byte) or (byte >= 'a' and byte <= 'f') or (byte >= 'A' and byte <= 'F');
}

/// Counts `:`-separated groups of 1-4 hex digits; null when one is not such a group.
fn hexGroups(text: []const u8) ?usize {
    var groups: usize = 0;
    var parts = std.mem.splitScalar(u8, text, ':');
    while (parts.next()) |part| {
        if (part.len < 1 or part.len > 4) return null;
        for (part) |byte| {
            if (!isHex(byte)) return null;
        }
        groups += 1;
    }
    return groups;
}

fn ipv4Tail(tail: []const u8) bool {
    var octets: usize = 0;
    var parts = std.mem.splitScalar(u8, tail, '.');
    while (parts.next()) |octet| {
        octets += 1;
        if (octets > 4 or !allDigits(octet) or octet.len > 3 or decimal(octet) > 255) return false;
    }
    return octets == 4;
}

fn ipv6(value: []const u8) bool {
    var text = value;
    var groups_needed: usize = 8;
    if (std.mem.indexOfScalar(u8, value, '.') != null) {
        const colon = std.mem.lastIndexOfScalar(u8, value, ':');
        const tail = if (colon) |at| value[at + 1 ..] else value;
        if (!ipv4Tail(tail)) return false;
        // The head keeps a trailing "::" whole: "1::" + IPv4 is "1::" with 6 groups needed.
        text = if (colon) |at| (if (at > 0 and value[at - 1] == ':') value[0 .. at + 1] else value[0..at]) else value[0..0];
        groups_needed = 6;
    }
    const doubles = std.mem.count(u8, text, "::");
    if (doubles > 1) return false;
    if (doubles == 0) return (hexGroups(text) orelse return false) == groups_needed;
    const split = std.mem.indexOf(u8, text, "::").?;
    var groups: usize = 0;
    for ([_][]const u8{ text[0..split], text[split + 2 ..] }) |half| {
        if (half.len == 0) continue;
        groups += hexGroups(half) orelse return false;
    }
    return groups < groups_needed;
}

const base58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const bech32_charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn base58Check(text: []const u8) bool {
    var number = [_]u8{0} ** 25;
    for (text) |char| {
        var carry: u32 = @intCast(std.mem.indexOfScalar(u8, base58, char) orelse return false);
        var index: usize = 25;
        while (index > 0) {
            index -= 1;
            carry += @as(u32, number[index]) * 58;
            number[index] = @truncate(carry);
            carry >>= 8;
        }
        if (carry != 0) return false;
    }
    var first: [Sha256.digest_length]u8 = undefined;
    var second: [Sha256.digest_length]u8 = undefined;
    Sha256.hash(number[0..21], &first, .{});
    Sha256.hash(&first, &second, .{});
    return (number[0] == 0x00 or number[0] == 0x05) and std.mem.eql(u8, second[0..4], number[21..25]);
}

fn bech32Step(checksum: u32, item: u32) u32 {
    const generator = [5]u32{ 0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3 };
    const top = checksum >> 25;
    var next = ((checksum & 0x1FFFFFF) << 5) ^ item;
    for (generator, 0..) |value, bit| {
        if ((top >> @intCast(bit)) & 1 != 0) next ^= value;
    }
    return next;
}

fn lower(byte: u8) u8 {
    return if (isUpper(byte)) byte + 32 else byte;
}

fn bech32(text: []const u8) bool {
    // The human-readable part must be "bc" (so the separator is the '1' at index 2).
    const separator = std.mem.lastIndexOfScalar(u8, text, '1') orelse {
        // validators.py slices text[:-1] here: only a 3-byte "bc?" would compare equal,
        // and it is then too short for a checksum.
        return false;
    };
    if (separator != 2 or lower(text[0]) != 'b' or lower(text[1]) != 'c') return false;
    if (text.len - separator < 7) return false;
    var checksum: u32 = 1;
    for ([_]u32{ 'b' >> 5, 'c' >> 5, 0, 'b' & 31, 'c' & 31 }) |item| checksum = bech32Step(checksum, item);
    for (text[separator + 1 ..]) |char| {
        const index = std.mem.indexOfScalar(u8, bech32_charset, lower(char)) orelse return false;
        checksum = bech32Step(checksum, @intCast(index));
    }
    return checksum == 1 or checksum == 0x2BC830A3;
}

fn bitcoinAddress(value: []const u8) bool {
    const segwit = value.len >= 3 and lower(value[0]) == 'b' and lower(value[1]) == 'c' and value[2] == '1';
    return if (segwit) bech32(value) else base58Check(value);
}

test "known-good and known-bad values, as tests/detectors/test_validators.py" {
    const Case = struct { u16, []const []const u8, []const []const u8 };
    const cases = [_]Case{
        .{ 1, &.{ "4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005" }, &.{ "4111 1111 1111 1112", "0000 0000 0000 0000", "4111-1111 1111-1111" } },
        .{ 2, &.{ "536-22-1234", "078 05 1121" }, &.{ "000-12-3456", "666-12-3456", "900-12-3456", "536-00-1234", "536-22-0000", "123-45-6789", "111-11-1111", "536-22.1234" } },
        .{ 3, &.{ "912-70-1234", "900-94-0000" }, &.{ "912-40-1234", "812-70-1234", "912-93-1234" } },
        .{ 4, &.{ "021000021", "011000015", "0110-0001-5" }, &.{ "021000022", "991000021", "000000000" } },
        .{ 5, &.{ "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "NO9386011117947" }, &.{ "GB82WEST12345698765431", "DE89 3704 0044 0532 0130", "XX82WEST12345698765432" } },
        .{ 6, &.{ "943 476 5919", "9434765919" }, &.{ "943 476 5918", "1111111111" } },
        .{ 7, &.{ "AB123456C", "JG 10 37 59 A" }, &.{ "GB123456A", "QQ123456C", "AB123456E", "AO123456A" } },
        .{ 9, &.{ "1984-02-29", "12/31/1990", "31.12.1990" }, &.{ "1985-02-29", "2024-13-01", "1899-01-01" } },
        .{ 10, &.{"12345678Z"}, &.{"12345678A"} },
        .{ 11, &.{"X1234567L"}, &.{"X1234567A"} },
        .{ 12, &.{"51 824 753 556"}, &.{"51 824 753 557"} },
        .{ 13, &.{"004 085 616"}, &.{"004 085 617"} },
        .{ 14, &.{"123 456 782"}, &.{"123 456 789"} },
        .{ 15, &.{"2123 45670 1"}, &.{ "2123 45671 1", "7123 45670 1" } },
        .{ 16, &.{"2345 6789 0124"}, &.{ "2345 6789 0125", "1345 6789 0124" } },
        .{ 17, &.{"44051401359"}, &.{"44051401358"} },
        .{ 18, &.{"131052-308T"}, &.{ "131052-308U", "131352-308T" } },
        .{ 19, &.{"S1234567D"}, &.{"S1234567E"} },
        .{ 20, &.{"RSSMRA85T10A562S"}, &.{"RSSMRA85T10A562T"} },
        .{ 21, &.{"1234567893"}, &.{"1234567890"} },
        .{ 22, &.{"130 692 544"}, &.{ "130 692 545", "046 454 286" } },
        .{ 23, &.{"111222333"}, &.{"111222334"} },
        .{ 24, &.{"111.444.777-35"}, &.{ "111.444.777-36", "111.111.111-11" } },
        .{ 25, &.{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"}, &.{ "eyJub3QiOiJhIn0.eyJzdWIiOiIxIn0.sig", "e.x.y" } },
        .{ 26, &.{ "2001:db8::1", "::ffff:192.0.2.1", "1:2:3:4:5:6:7:8" }, &.{ "1:2:3", "1::2::3", "12345::1" } },
        .{ 27, &.{ "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq" }, &.{ "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr" } },
    };
    for (cases) |case| {
        for (case[1]) |value| std.testing.expect(run(case[0], value, 0)) catch |err| {
            std.debug.print("validator {d} refused good value {s}\n", .{ case[0], value });
            return err;
        };
        for (case[2]) |value| std.testing.expect(!run(case[0], value, 0)) catch |err| {
            std.debug.print("validator {d} accepted bad value {s}\n", .{ case[0], value });
            return err;
        };
    }
}

test "the log2 table holds what log2Q16 computes" {
    for (1..log2_q16_table.len) |value| try std.testing.expectEqual(log2Q16(value), log2Q16Small(value));
}

test "entropy threshold in thousandths of a bit" {
    try std.testing.expect(run(8, "abcdefgh", 3000));
    try std.testing.expect(!run(8, "abcdefgh", 3001));
    try std.testing.expect(!run(8, "aaaaaaaaaaaaaaaaaaaa", 1));
    try std.testing.expect(run(8, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ9vL2nT8s", 4000));
    try std.testing.expect(!run(8, "", 0));
}

test "fixed-point log2 matches the reference values" {
    // validators.log2_q16 on these inputs (computed by the Python reference).
    try std.testing.expectEqual(@as(u64, 0), log2Q16(1));
    try std.testing.expectEqual(@as(u64, 65536), log2Q16(2));
    try std.testing.expectEqual(@as(u64, 786432), log2Q16(4096));
}
