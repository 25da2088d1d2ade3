"""`/pins audit`, rendered: one workspace's audit summary (Block Kit, pure).

Beside `bot.blocks` (whose helpers it uses) so the audit's wording lives in one small module.
Everything not written by pinbot (file names, pin ids, the service's statuses) is escaped.
"""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from .blocks import Message, cut, inline_name
from .format import plural, short_date
from .store.audit import DriftCounts
from .store.sweeps import SweepState

#: How each kind of drift reads, counted and in an example.
KIND_WORDS = {
    "unpinned": "unpinned at the service",
    "gone": "gone from the service (it no longer knows them)",
    "failed": "failed at the service",
    "stuck": "stuck pinning for over a day",
}
KIND_EMOJI = {"unpinned": ":wastebasket:", "gone": ":ghost:", "failed": ":x:",
              "stuck": ":hourglass_flowing_sand:"}
#: A sweep step that raised leaves this in the sweep's result (bot.jobs.sweeper).
STEP_FAILED = "failed (see logs)"


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=cut(text, 3000))



def sweep_line(sweep: SweepState | None, *, show_result: bool) -> str:
    """The last sweep: when it finished and how it went. Its result counts every workspace's
    pins, so a deployment serving several workspaces shows only whether it went well."""
    if sweep is None or sweep.last_finished_at is None:
        return "No sweep has finished yet."
    when = f"Last sweep finished {short_date(sweep.last_finished_at)}"
    result = sweep.last_result or ""
    if show_result and result:
        return f"{when}: {inline_name(result, 1000)}"
    return f"{when}: {'a step failed (see the logs)' if STEP_FAILED in result else 'ok'}."


def summary(counts: DriftCounts, sweep: SweepState | None, *, show_result: bool) -> Message:
    lines = [
        ":mag: *Audit of this workspace's pins*",
        f"*{counts.pinned}* pinned in the ledger; *{counts.checked}* compared with the pinning "
        "service in the last 24 hours"
        + (f" ({counts.never_checked} never yet)." if counts.never_checked else "."),
    ]
    found = {k: n for k, n in counts.counts.items() if n}
    if found:
        lines.append("Found in the last 30 days: " + " · ".join(
            f"*{n}* {KIND_WORDS.get(k, k)}" for k, n in found.items()) + ".")
    else:
        lines.append(":white_check_mark: No drift found in the last 30 days: the ledger and "
                     "the service agree.")
    body: list[Block] = [SectionBlock(text=_md("\n".join(lines)))]
    if counts.examples:
        examples = []
        for kind, record in counts.examples:
            name = inline_name(record.name or record.cid or "", 80) or "(no name)"
            pin = inline_name(record.pin_id or f"row {record.id}", 80)
            examples.append(f"{KIND_EMOJI.get(kind, '•')} *{name}* `{pin}`: "
                            f"{KIND_WORDS.get(kind, kind)}, {short_date(record.updated_at)}")
        body.append(SectionBlock(text=_md("*Examples*\n" + "\n".join(examples))))
    body.append(ContextBlock(elements=[
        _md(sweep_line(sweep, show_result=show_result)),
        _md("The sweep compares the least recently checked pins every PINBOT_SWEEP_INTERVAL "
            "and corrects the ledger and the cards; `pinbot audit` compares them all."),
    ]))
    found_total = sum(counts.counts.values())
    text = (f"Audit: {counts.pinned} pinned, {counts.checked} checked lately, "
            f"{plural(found_total, 'drift')} found")
    return Message(cut(text, 3000), [b.to_dict() for b in body])
