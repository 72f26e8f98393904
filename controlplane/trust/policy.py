"""Trust policy: per environment, which issuers' modules may run and what a module must be.

    {"schema": "meshveil.trust-policy/v1",
     "environments": {
       "prod":    {"module_issuers": ["release"], "require_config_verification": true},
       "staging": {"module_issuers": ["release", "ci"]}}}

Issuers are key names or key ids of the trust root; a name that the trust root does not
know is an error when the policy is applied, not a silent "nobody".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from controlplane.trust.encoding import read_input, require, require_keys, strict_json_object
from controlplane.trust.errors import TrustError
from controlplane.trust.trust_state import TrustState

POLICY_SCHEMA = "meshveil.trust-policy/v1"


@dataclass(frozen=True)
class EnvironmentPolicy:
    name: str
    module_issuers: tuple[str, ...]
    require_config_verification: bool = False

    def allowed_issuer_ids(self, state: TrustState) -> frozenset[str]:
        allowed = set()
        for issuer in self.module_issuers:
            matches = [key.key_id for key in state.keys if issuer in (key.name, key.key_id)]
            if not matches and issuer not in state.revoked:
                raise TrustError(
                    f"policy for {self.name!r} names issuer {issuer!r}, which the trust root does not know"
                )
            allowed.update(matches)
        return frozenset(allowed)


@dataclass(frozen=True)
class TrustPolicy:
    environments: dict[str, EnvironmentPolicy]

    def environment(self, name: str) -> EnvironmentPolicy:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise TrustError(f"the policy has no environment {name!r} (it has: {known})") from None

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> TrustPolicy:
        document = strict_json_object(raw, source)
        require_keys(document, {"schema", "environments"}, source)
        if require(document, "schema", str, source) != POLICY_SCHEMA:
            raise TrustError(f"{source}: schema is not {POLICY_SCHEMA!r}")
        environments = {}
        for name, entry in require(document, "environments", dict, source).items():
            where = f"{source} environment {name!r}"
            if not isinstance(entry, dict):
                raise TrustError(f"{where}: must be a JSON object")
            require_keys(entry, {"module_issuers", "require_config_verification"}, where)
            issuers = require(entry, "module_issuers", list, where)
            if not issuers or not all(isinstance(item, str) for item in issuers):
                raise TrustError(f"{where}: 'module_issuers' must list at least one key name or id")
            verification = entry.get("require_config_verification", False)
            if not isinstance(verification, bool):
                raise TrustError(f"{where}: 'require_config_verification' must be true or false")
            environments[name] = EnvironmentPolicy(name, tuple(issuers), verification)
        if not environments:
            raise TrustError(f"{source}: defines no environments")
        return cls(environments)

    @classmethod
    def load(cls, path: Path) -> TrustPolicy:
        return cls.from_json(read_input(path, "policy"), str(path))
