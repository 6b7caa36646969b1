"""An outsider's verifier of the audit log: written from docs/audit.md and docs/auditor.md, not from beslut's code."""
