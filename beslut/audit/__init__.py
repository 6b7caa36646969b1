"""The auditor's tooling: verify the log from itself, sign checkpoints, prove events, replay, export.

Everything here reads; docs/auditor.md says what each part proves. The log's own checks are the
domain's, shared with ``Engine.verify_audit``: the one chain check
(:class:`beslut.states.audit_chain.ChainChecker`), the one replay (:class:`beslut.states.replay.Replayer`)
and the verification built of the two (:class:`beslut.states.verification.LogVerifier`); this package adds the
Merkle tree, checkpoints, proofs, the streamed and two-process runners and the export. The entry points
(also what the scheduler daemon calls to make checkpoints on a schedule) are in
:mod:`beslut.audit.service`:

- :func:`~beslut.audit.service.verify_store`: chain, gap-free seq and stream_seq, legal
  transitions, and a checkpoint if given (:mod:`beslut.audit.verify`); on two processes when asked or when the
  log is big enough (:mod:`beslut.audit.parallel`, an accelerator that answers only for a clean log);
- :func:`~beslut.audit.service.make_checkpoint`: verify, then sign the head and the RFC 6962
  Merkle root with Ed25519 (:mod:`beslut.audit.checkpoint`, :mod:`beslut.audit.keys`);
- :func:`~beslut.audit.service.prove` / :func:`~beslut.audit.service.prove_extends`:
  inclusion and consistency proofs (:mod:`beslut.audit.proofs`, :mod:`beslut.audit.merkle`);
- :func:`~beslut.audit.service.replay_store`: every recommendation rebuilt from the events,
  as of a recorded instant or a legal date, compared with the tables (:mod:`beslut.states.replay`);
- :func:`~beslut.audit.service.export_case`: the archive package of one recommendation
  (:mod:`beslut.audit.export`).
"""

from __future__ import annotations
