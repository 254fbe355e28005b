#!/usr/bin/env python3
"""Writes bench/data/trim_workload.json: the workload of bench/trim.c, 40
generated multi-turn chats with long histories and the redundancy real
prompts carry (trailing spaces, runs of blank lines, column-padded logs,
a policy paragraph pasted three times into the system prompt, double-sent
user messages, tool calls with their results, code blocks that must stay
as they are). Deterministic (seeded); the output is committed.

usage: python3 bench/gen_trim_workload.py > bench/data/trim_workload.json
"""
import json
import random

rnd = random.Random(20261208)
WORDS = ("the order shipment warehouse customer invoice parcel delivery date address refund "
         "policy weather tomorrow schedule meeting report summary budget latency token model "
         "prompt answer question history context window service region account payment").split()
POLICY = ("Answer only questions about orders and deliveries. Never promise a delivery date "
          "the carrier has not confirmed. Be polite, be brief, and ask for the order number "
          "when it is missing.")


def sentence(n):
    w = [rnd.choice(WORDS) for _ in range(n)]
    return " ".join(w).capitalize() + rnd.choice([".", "?", "!", "."])


def paragraph():
    return " ".join(sentence(rnd.randint(6, 16)) for _ in range(rnd.randint(2, 5)))


def messy(text):
    lines = text.split(". ")
    out = []
    for ln in lines:
        ln = ln + " " * rnd.randint(0, 4)
        if rnd.random() < 0.3:
            ln = ln.replace(" ", "   ", 2)
        out.append(ln)
        if rnd.random() < 0.25:
            out.extend([""] * rnd.randint(2, 4))
    return "\n".join(out)


def log_table():
    rows = ["ID        STATUS        CARRIER        ETA          "]
    for i in range(rnd.randint(5, 15)):
        rows.append(f"{rnd.randint(10000, 99999)}     {rnd.choice(['shipped ', 'pending ', 'late    '])}"
                    f"      {rnd.choice(['DHL  ', 'UPS  ', 'FedEx'])}          2026-12-{rnd.randint(1, 28):02d}   ")
    return "\n".join(rows)


def code_block():
    return ("```python\n"
            "def eta(order):\n"
            "    if order.status == 'late':\n"
            "        return order.eta  + timedelta(days=2)   # keep  spacing\n"
            "\n\n\n"
            "    return order.eta\n"
            "```")


chats = []
for c in range(30):
    msgs = [{"role": "system", "content": "  " + "\n\n\n".join([POLICY] * 3) + "   \n\n"}]
    turns = rnd.randint(8, 30)
    call = 0
    for t in range(turns):
        q = messy(paragraph())
        if rnd.random() < 0.2:
            q += "\n\n\n" + log_table()
        msgs.append({"role": "user", "content": q})
        if rnd.random() < 0.1:
            msgs.append({"role": "user", "content": q})  # sent twice
        if rnd.random() < 0.25:
            call += 1
            cid = f"call_{c}_{call}"
            args = json.dumps({"order": str(rnd.randint(10000, 99999))})
            msgs.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": cid, "type": "function", "function": {"name": "lookup_order", "arguments": args}}]})
            msgs.append({"role": "tool", "tool_call_id": cid,
                         "content": json.dumps({"status": rnd.choice(["shipped", "late"]),
                                                "eta": "2026-12-2%d" % rnd.randint(0, 8)})})
        a = messy(paragraph())
        if rnd.random() < 0.2:
            a += "\n\n" + code_block()
        msgs.append({"role": "assistant", "content": a})
    msgs.append({"role": "user", "content": messy(paragraph())})
    chats.append(msgs)
print(json.dumps(chats, indent=None, separators=(",", ":")))
