"""Word problems about money, percentages, travel and shared work.

Each problem draws one of four templates; difficulty adds steps to it:
- shopping: 1-3 kinds of items at prices with cents, then (3+) the change from a bill
  and (5) a discount on the total;
- percent_change: a price changes by 1-4 successive percentages, and at difficulty 5
  the overall percentage change is asked;
- travel: distance from speed and time (1-2 legs), then the average speed over 2-3
  legs, at difficulty 5 with times in minutes;
- work_rate: people finishing a job together (2-3 of them), then one starting alone
  (4), then two pipes filling a tank while a drain empties it (5).
Numbers are drawn until every quantity is exact with at most two decimals, so answers
are integers or decimals like "12.75" and no claim needs rounding.
"""

from __future__ import annotations

import random
from fractions import Fraction

from datagen.tasks.base import Generated, Solution, Step, Task
from datagen.tasks.math._numbers import claim, dstr, fstr, money

_NAMES = ["Ava", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Isla", "Jonas", "Kemi", "Liam"]
_ITEMS = [("notebooks", 120, 450), ("pens", 45, 180), ("apples", 30, 95), ("mugs", 350, 900),
          ("batteries", 85, 260), ("candles", 199, 650), ("sandwiches", 325, 780), ("tickets", 450, 1500)]  # fmt: skip
_GOODS = ["bicycle", "laptop", "jacket", "guitar", "camera", "sofa", "watch", "printer"]
_VEHICLES = [("drives", 40, 90), ("rides a scooter", 20, 45), ("cycles", 12, 24), ("takes a boat", 15, 40)]
_JOBS = ["paint a fence", "tile a floor", "sort the library books", "harvest an orchard row"]
_ORDINALS = ["first", "second", "third", "fourth"]


def _cents(rng: random.Random, lo: int, hi: int) -> Fraction:
    """A price between lo and hi cents, rounded to 5 cents, in dollars."""
    return Fraction(rng.randint(lo // 5, hi // 5) * 5, 100)


def _exact(x: Fraction) -> bool:
    """At most two decimals, so the value can be written and claimed exactly."""
    return (x * 100).denominator == 1


def _shopping(rng: random.Random, d: int) -> dict:
    n_kinds = [1, 2, 2, 3, 3][d - 1]
    while True:
        kinds = rng.sample(_ITEMS, n_kinds)
        items = [[noun, rng.randint(2, 6 + d), money(_cents(rng, lo, hi))] for noun, lo, hi in kinds]
        total = sum(q * Fraction(p) for _, q, p in items)
        discount = rng.choice([10, 20, 25, 50]) if d == 5 else 0
        if _exact(total * discount / 100):
            break
    after = total * (100 - discount) / 100
    paid = next(b for b in (10, 20, 50, 100, 200, 500) if b > after) if d >= 3 else None
    return {"name": rng.choice(_NAMES), "items": items, "discount": discount, "paid": paid}


def _shopping_text(p: dict) -> str:
    name = p["name"]
    bought = [f"{q} {noun} at ${price} each" for noun, q, price in p["items"]]
    bought = ", ".join(bought[:-1]) + " and " + bought[-1] if len(bought) > 1 else bought[0]
    text = f"{name} buys {bought}."
    if p["discount"]:
        text += f" The shop takes {p['discount']}% off the total."
    if p["paid"]:
        return text + f" {name} pays with a ${p['paid']} bill. How much change does {name} get, in dollars?"
    return text + f" How much does {name} spend, in dollars?"


def _shopping_steps(p: dict, steps: list[Step]) -> Fraction:
    costs = [qty * Fraction(price) for _, qty, price in p["items"]]
    for (noun, qty, price), cost in zip(p["items"], costs, strict=True):
        steps.append(
            Step(goal=f"How much do the {noun} cost?", work=f"{qty} * {price} = {money(cost)} dollars.")
        )
    total = sum(costs)
    if len(costs) > 1:
        summed = f"{' + '.join(map(money, costs))} = {money(total)} dollars."
        steps.append(Step(goal="What is the total price?", work=summed))
    if p["discount"]:
        off = total * p["discount"] / 100
        steps.append(
            Step(
                goal="What is the total after the discount?",
                work=f"The discount is {money(total)} * {p['discount']} / 100 = {money(off)}, "
                f"so the total becomes {money(total)} - {money(off)} = {money(total - off)} dollars.",
            )
        )
        total -= off
    if p["paid"]:
        steps.append(
            Step(
                goal="How much change is left from the bill?",
                work=f"{p['paid']} - {money(total)} = {money(p['paid'] - total)} dollars.",
            )
        )
        return p["paid"] - total
    return total


def _percent_change(rng: random.Random, d: int) -> dict:
    n_changes = [1, 2, 3, 4, 3][d - 1]
    while True:
        start = rng.randint(2, 40) * 20
        changes = [
            rng.choice([-1, 1]) * rng.choice([5, 10, 15, 20, 25, 30, 40, 50]) for _ in range(n_changes)
        ]
        values = [Fraction(start)]
        for pct in changes:
            values.append(values[-1] * (100 + pct) / 100)
        overall = (values[-1] - start) / start * 100
        if all(map(_exact, values)) and (d < 5 or (overall > 0 and _exact(overall))):
            return {"good": rng.choice(_GOODS), "start": start, "changes": changes, "overall": d == 5}


def _percent_text(p: dict) -> str:
    moves = ", then ".join(f"{'rises' if c > 0 else 'falls'} by {abs(c)}%" for c in p["changes"])
    text = f"A {p['good']} costs ${p['start']}. Its price {moves}."
    if p["overall"]:
        return text + " By what percentage is the final price higher than the original price?"
    return text + " What is the final price, in dollars?"


def _percent_steps(p: dict, steps: list[Step]) -> Fraction:
    value = Fraction(p["start"])
    for i, pct in enumerate(p["changes"]):
        part = value * abs(pct) / 100
        new = value + part if pct > 0 else value - part
        sign = "+" if pct > 0 else "-"
        steps.append(
            Step(
                goal=f"What is the price after the {_ORDINALS[i]} change?",
                work=f"{abs(pct)}% of {money(value)} is {money(value)} * {abs(pct)} / 100 = {money(part)}, "
                f"so the price becomes {money(value)} {sign} {money(part)} = {money(new)} dollars.",
            )
        )
        value = new
    if not p["overall"]:
        return value
    rise = value - p["start"]
    overall = rise / p["start"] * 100
    steps.append(
        Step(
            goal="By what percentage did the price change overall?",
            work=f"The price rose by {money(value)} - {p['start']} = {money(rise)} dollars, which is "
            f"{money(rise)} / {p['start']} * 100 = {dstr(overall)} percent of the original price.",
        )
    )
    return overall


def _travel(rng: random.Random, d: int) -> dict:
    n_legs = [1, 2, 2, 3, 3][d - 1]
    verb, lo, hi = rng.choice(_VEHICLES)
    while True:
        # minutes: half hours below difficulty 5, quarter hours given in minutes at 5
        legs = [[rng.randint(lo, hi), rng.randint(2, 10) * 15 if d == 5 else rng.randint(1, 8) * 30] for _ in range(n_legs)]  # fmt: skip
        distance = sum(s * Fraction(m, 60) for s, m in legs)
        if d < 3 or _exact(distance / Fraction(sum(m for _, m in legs), 60)):
            name = rng.choice(_NAMES)
            return {"name": name, "verb": verb, "legs": legs, "average": d >= 3, "minutes": d == 5}


def _duration(minutes: int, in_minutes: bool) -> str:
    if in_minutes:
        return f"{minutes} minutes"
    hours = Fraction(minutes, 60)
    return f"{dstr(hours)} hour{'' if hours == 1 else 's'}"


def _travel_text(p: dict) -> str:
    legs = ", then ".join(f"at {s} km/h for {_duration(m, p['minutes'])}" for s, m in p["legs"])
    text = f"{p['name']} {p['verb']} {legs}."
    if p["average"]:
        return text + f" What is {p['name']}'s average speed over the whole trip, in km/h?"
    return text + f" How far does {p['name']} travel in total, in kilometres?"


def _travel_steps(p: dict, steps: list[Step]) -> Fraction:
    hours = [Fraction(m, 60) for _, m in p["legs"]]
    if p["minutes"]:
        converted = "; ".join(f"{m} / 60 = {dstr(h)}" for (_, m), h in zip(p["legs"], hours, strict=True))
        steps.append(Step(goal="How long is each leg in hours?", work=f"{converted}."))
    distances = []
    for i, ((speed, _), h) in enumerate(zip(p["legs"], hours, strict=True)):
        distances.append(speed * h)
        which = f"the {_ORDINALS[i]} leg" if len(hours) > 1 else "the trip"
        steps.append(
            Step(
                goal=f"How far is {which}?",
                work=f"Distance is speed times time: {speed} * {dstr(h)} = {dstr(speed * h)} km.",
            )
        )
    total = sum(distances)
    if len(distances) > 1:
        summed = f"{' + '.join(map(dstr, distances))} = {dstr(total)} km."
        steps.append(Step(goal="What is the total distance?", work=summed))
    if not p["average"]:
        return total
    time = sum(hours)
    steps.append(
        Step(
            goal="What is the total time and the average speed?",
            work=f"The total time is {' + '.join(map(dstr, hours))} = {dstr(time)} hours, so the average "
            f"speed is {dstr(total)} / {dstr(time)} = {dstr(total / time)} km/h.",
        )
    )
    return total / time


def _work_rate(rng: random.Random, d: int) -> dict:
    names, hi = rng.sample(_NAMES, 3), [12, 30, 20, 20, 20][d - 1]
    while True:
        hours = rng.sample(range(2, hi + 1), 3 if d in (3, 5) else 2)
        head = rng.randint(1, hours[0] - 1) if d == 4 else 0
        rate = _rate(hours, drain=d == 5)
        if rate > 0 and _exact(head + (1 - Fraction(head, hours[0])) / rate):
            return {"names": names, "job": rng.choice(_JOBS), "hours": hours, "head": head, "drain": d == 5}


def _rate(hours: list[int], drain: bool) -> Fraction:
    """Jobs per hour: each worker (or pipe) adds 1/h; a drain, the last entry, removes it."""
    return sum(Fraction(-1 if drain and i == 2 else 1, h) for i, h in enumerate(hours))


def _work_text(p: dict) -> str:
    h = p["hours"]
    if p["drain"]:
        return (
            f"One pipe fills a tank in {h[0]} hours and a second pipe fills it in {h[1]} hours, while a "
            f"drain empties the full tank in {h[2]} hours. Starting empty with the pipes and the drain all "
            "open, how many hours does it take to fill the tank?"
        )
    alone = [f"{n} in {x} hours" for n, x in zip(p["names"], h, strict=False)]
    alone[0] = f"{p['names'][0]} can {p['job']} alone in {h[0]} hours"
    text = ", ".join(alone[:-1]) + f" and {alone[-1]}."
    if p["head"]:
        return text + (
            f" {p['names'][0]} works alone for {p['head']} hours, then {p['names'][1]} joins and they "
            "finish together. How many hours does the whole job take?"
        )
    return text + f" Working together, how many hours do they need to {p['job']}?"


def _work_steps(p: dict, steps: list[Step]) -> Fraction:
    h, head = p["hours"], p["head"]
    done = Fraction(0)
    if head:
        part, done = claim(head, "*", Fraction(1, h[0]))
        left, _ = claim(1, "-", done)
        steps.append(
            Step(
                goal=f"How much of the job is done in the first {head} hours?",
                work=f"{p['names'][0]} does 1/{h[0]} of the job per hour: {part}, which leaves {left}.",
            )
        )
    combined = f"1/{h[0]} + 1/{h[1]}" + (f" {'-' if p['drain'] else '+'} 1/{h[2]}" if len(h) > 2 else "")
    rate = _rate(h, p["drain"])
    steps.append(
        Step(
            goal="What fraction of the job gets done per hour together?",
            work=f"A job taking n hours goes at 1/n per hour, and the rates add: {combined} = {fstr(rate)}.",
        )
    )
    rest, time = claim(1 - done, "/", rate)
    total = head + time
    work = f"Time is work divided by rate: {rest}."
    if head:
        work += f" Adding the first {head} hours gives {claim(head, '+', time)[0]}."
    if total.denominator != 1:
        work += f" As a decimal, {fstr(total)} = {dstr(total)}."
    steps.append(Step(goal="How many hours does it take in total?", work=work))
    return total


_TEMPLATES = {
    "shopping": (_shopping, _shopping_text, _shopping_steps),
    "percent_change": (_percent_change, _percent_text, _percent_steps),
    "travel": (_travel, _travel_text, _travel_steps),
    "work_rate": (_work_rate, _work_text, _work_steps),
}
_PRINCIPLES = {
    "shopping": "The cost of several items is quantity times unit price, summed; a percentage "
    "discount removes that share of the total; change is the amount paid minus the cost.",
    "percent_change": "A change of p% adds or removes p/100 of the current value, so successive "
    "changes apply one after another to the new value; overall change is compared to the start.",
    "travel": "Distance is speed times time; average speed is total distance divided by total time, "
    "not the average of the speeds.",
    "work_rate": "Work rates add: a worker who needs n hours does 1/n of the job per hour, and the "
    "time for a job is the work left divided by the combined rate.",
}


def generate(rng: random.Random, difficulty: int) -> Generated:
    template = rng.choice(sorted(_TEMPLATES))
    params = _TEMPLATES[template][0](rng, difficulty)
    meta = {"template": template, "params": params}
    prompt = _TEMPLATES[template][1](params)
    return Generated(prompt=prompt, answer=solve(meta).answer, meta=meta)


def solve(meta: dict) -> Solution:
    steps: list[Step] = []
    value = _TEMPLATES[meta["template"]][2](meta["params"], steps)
    return Solution(principle=_PRINCIPLES[meta["template"]], steps=steps, answer=dstr(value))


TASK = Task(
    name="word_problems",
    domain="math",
    verifier="math",
    description="Word problems with prices, percentages, speeds and work rates",
    generate=generate,
    solve=solve,
)
