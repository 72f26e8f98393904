//! Why a configuration was refused. The names are the reason codes the control plane's
//! Python mirror (controlplane/trust/config_verification.py) uses; logs and metrics carry
//! the code, never any of the configuration's content.

pub const Reason = enum(u8) {
    too_large,
    not_signed,
    bad_trust_statement,
    wrong_payload_type,
    malformed,
    revoked_key,
    bad_signature,
    unknown_key,
    below_threshold,
    unlisted_signer,
    wrong_module,
    wrong_plugin,
    wrong_target,
    not_yet_valid,
    expired,
    rollback,

    pub fn describe(reason: Reason) []const u8 {
        return switch (reason) {
            .too_large => "the configuration is larger than the bound",
            .not_signed => "the configuration is not a signed meshveil bundle",
            .bad_trust_statement => "a trust statement (rotation or revocation) does not verify",
            .wrong_payload_type => "the envelope does not carry a meshveil config",
            .malformed => "the signed payload is malformed",
            .revoked_key => "the configuration is signed with a revoked key",
            .bad_signature => "a signature does not verify (tampered)",
            .unknown_key => "the configuration is signed only by unknown keys",
            .below_threshold => "too few trusted keys signed the configuration",
            .unlisted_signer => "a signer is not listed in the payload's key ids",
            .wrong_module => "the configuration is for another module or build",
            .wrong_plugin => "the configuration is for another plugin",
            .wrong_target => "the configuration does not target this node or workload",
            .not_yet_valid => "the configuration is not yet valid",
            .expired => "the configuration has expired",
            .rollback => "the configuration is not newer than the running one",
        };
    }
};

/// A refusal with the numbers that explain it (never configuration content).
pub const Refusal = struct {
    reason: Reason,
    /// Version the refused config claims, when it got that far; 0 otherwise.
    version: u64 = 0,
    /// Valid signatures found and the threshold needed, for signature refusals.
    valid_signatures: u8 = 0,
    threshold: u8 = 0,
};
