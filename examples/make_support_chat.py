"""Generate the example datasets: support chats for Parcelpine, a fictional
parcel-tracking and returns app.

Deterministic (fixed seed): running it again rewrites the same bytes, so the
committed files and this script never drift apart.

    python examples/make_support_chat.py      # writes support_chat.jsonl and support_faq.csv
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261126
CHAT_EXAMPLES = 320
CSV_ROWS = 60

SYSTEM = (
    "You are Pip, the support assistant of Parcelpine, an app that tracks parcels from any "
    "carrier and handles returns. Be friendly and brief, give numbered steps for anything "
    "done in the app, never invent tracking data, and hand over to a human agent for "
    "refunds above $200 or anything legal."
)
CARRIERS = ["UPS", "FedEx", "DHL", "USPS", "Royal Mail", "DPD", "Canada Post", "PostNL"]
CITIES = ["Leeds", "Austin", "Lyon", "Toronto", "Utrecht", "Denver", "Glasgow", "Porto"]
SHOPS = [
    "Fernway Outfitters",
    "Kettle & Crumb",
    "Brightbyte",
    "Moss Lane Books",
    "Northpeak Gear",
    "Little Orbit Toys",
]
ITEMS = [
    "a rain jacket",
    "two coffee mugs",
    "a phone case",
    "a box of books",
    "hiking boots",
    "a desk lamp",
    "a board game",
    "wireless earbuds",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
PLANS = {"Free": "$0", "Plus": "$4.99 a month", "Family": "$8.99 a month"}


def order_id(rng: random.Random) -> str:
    return f"PP-{rng.randint(100000, 999999)}"


def tracking(rng: random.Random) -> str:
    return "1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(14))


def where_is_my_parcel(rng: random.Random) -> list[tuple[str, str]]:
    shop, carrier, day = rng.choice(SHOPS), rng.choice(CARRIERS), rng.choice(DAYS)
    asks = [
        f"Where is my parcel from {shop}? It was supposed to arrive {day}.",
        f"my {shop} order still hasn't shown up, it said {day}",
        f"Hi, tracking for {rng.choice(ITEMS)} from {shop} hasn't moved since {day}. Help?",
    ]
    answer = (
        f"Sorry it's late! Parcels with {carrier} often sit at a depot for a day or two "
        "without a scan. Here's what to do:\n"
        "1. Open the parcel in Parcelpine and pull down to refresh.\n"
        f"2. If there's no new scan after 3 working days, tap Contact carrier to open "
        f"a trace with {carrier}.\n"
        f"3. Still stuck after that? Reply here and I'll ask {shop} to send a replacement."
    )
    turns = [(rng.choice(asks), answer)]
    if rng.random() < 0.35:
        turns.append(
            (
                "It's been 4 working days now with no scan.",
                f"Thanks for waiting. That counts as lost in transit for {carrier}. Tap "
                f"Report a problem > Lost parcel on the order and I'll forward it to "
                f"{shop}; they usually reply within 2 working days.",
            )
        )
    return turns


def add_tracking_number(rng: random.Random) -> list[tuple[str, str]]:
    number, carrier = tracking(rng), rng.choice(CARRIERS)
    asks = [
        f"How do I add tracking number {number}?",
        f"I got a {carrier} number {number}, how do I track it in the app",
        "Can I add a parcel that isn't from an online shop?",
    ]
    answer = (
        "You can track any parcel:\n1. Tap + on the Parcels tab.\n"
        "2. Paste or scan the tracking number.\n"
        f"3. Parcelpine detects the carrier (for {number[:6]}... it's usually {carrier}); "
        "change it if the guess is wrong.\nUpdates then arrive as notifications."
    )
    return [(rng.choice(asks), answer)]


def start_return(rng: random.Random) -> list[tuple[str, str]]:
    shop, item, days = rng.choice(SHOPS), rng.choice(ITEMS), rng.choice([14, 30, 60])
    asks = [
        f"I want to return {item} I bought from {shop}.",
        f"how do i send back {item}? bought it from {shop} last week",
        f"Can you make me a return label for {shop}?",
    ]
    answer = (
        f"{shop} accepts returns within {days} days of delivery. To start one:\n"
        f"1. Open the {shop} order and tap Return items.\n"
        f"2. Pick {item} and a reason.\n"
        "3. Choose drop-off or pickup; the label or QR code appears in the order.\n"
        "Refunds are issued by the shop once they receive the parcel."
    )
    turns = [(rng.choice(asks), answer)]
    if rng.random() < 0.3:
        turns.append(
            (
                "Do I have to print the label?",
                "No printer needed if you choose a drop-off point that accepts QR codes; "
                "the app shows which ones do on the map.",
            )
        )
    return turns


def refund_status(rng: random.Random) -> list[tuple[str, str]]:
    order, amount = order_id(rng), rng.choice([18, 34, 59, 89, 129, 240, 315])
    ask = rng.choice(
        [
            f"When do I get my refund for {order}? It's ${amount}.",
            f"refund for order {order} (${amount}) still not in my account",
        ]
    )
    if amount > 200:
        answer = (
            f"For refunds above $200 a human colleague needs to check the details of "
            f"{order}. I've flagged it; you'll get an email within one working day."
        )
    else:
        answer = (
            f"Once the shop confirms the return of {order}, the ${amount} refund goes "
            "back to your original payment method. Card refunds take 5-10 working days "
            "to appear; the order screen shows the date the shop sent it."
        )
    return [(ask, answer)]


def change_address(rng: random.Random) -> list[tuple[str, str]]:
    city = rng.choice(CITIES)
    ask = rng.choice(
        [
            f"I moved to {city}, can I change the delivery address of a parcel?",
            f"Need to redirect a parcel to my new place in {city}",
        ]
    )
    answer = (
        "Parcelpine can't change an address itself, but many carriers can:\n"
        "1. Open the parcel and tap Delivery options.\n"
        "2. If Redirect is listed, follow the carrier's steps there.\n"
        "3. If it isn't, the shop has to ask the carrier, so contact them soon.\n"
        f"For future orders, update your {city} address under Profile > Addresses."
    )
    return [(ask, answer)]


def password_reset(rng: random.Random) -> list[tuple[str, str]]:
    ask = rng.choice(
        [
            "I forgot my password",
            "can't log in, reset password pls",
            "The password reset email never arrives.",
        ]
    )
    answer = (
        "Let's get you back in:\n1. On the sign-in screen tap Forgot password.\n"
        "2. Enter your account email; the link arrives within 5 minutes.\n"
        "3. Not there? Check spam, and that the address is the one you signed up with.\n"
        "Links expire after 30 minutes, so use the newest one."
    )
    return [(ask, answer)]


def plans(rng: random.Random) -> list[tuple[str, str]]:
    plan = rng.choice(["Plus", "Family"])
    ask = rng.choice(
        [
            f"What do I get with {plan}?",
            f"how much is {plan} and can I cancel",
            f"Is {plan} worth it?",
        ]
    )
    extra = (
        "up to 6 people sharing parcels"
        if plan == "Family"
        else "unlimited parcels and delivery-window predictions"
    )
    answer = (
        f"{plan} costs {PLANS[plan]} and adds {extra}, plus automatic return "
        "reminders. You can cancel any time under Profile > Subscription; you keep "
        f"{plan} until the end of the period you paid for."
    )
    return [(ask, answer)]


def notifications(rng: random.Random) -> list[tuple[str, str]]:
    ask = rng.choice(
        [
            "I get too many notifications",
            "How do I stop the delivery alerts at night?",
            "notifications stopped working on my phone",
        ]
    )
    answer = (
        "Notification settings are per parcel and global:\n"
        "1. Profile > Notifications sets which events alert you.\n"
        "2. Quiet hours there mute alerts overnight.\n"
        "3. If nothing arrives at all, check that your phone's settings allow "
        "notifications for Parcelpine, then sign out and in again."
    )
    return [(ask, answer)]


def tool_lookup(rng: random.Random) -> list[dict[str, object]]:
    """A conversation where the assistant looks the order up with a tool."""
    order, carrier, day = order_id(rng), rng.choice(CARRIERS), rng.choice(DAYS)
    call_id = f"call_{rng.randint(10**8, 10**9 - 1)}"
    return [
        {"role": "user", "content": f"Can you check order {order} for me?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {
                        "name": "lookup_order",
                        "arguments": json.dumps({"order_id": order}),
                    },
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": call_id,
            "content": json.dumps({"status": "out_for_delivery", "carrier": carrier, "eta": day}),
        },
        {
            "role": "assistant",
            "content": f"Good news: {order} is out for delivery with {carrier} "
            f"and should arrive {day}. You'll get a notification when it's delivered.",
        },
    ]


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up a Parcelpine order by id.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]
INTENTS = [
    where_is_my_parcel,
    add_tracking_number,
    start_return,
    refund_status,
    change_address,
    password_reset,
    plans,
    notifications,
]


def chat_example(rng: random.Random) -> dict[str, object]:
    messages: list[dict[str, object]] = [{"role": "system", "content": SYSTEM}]
    if rng.random() < 0.08:
        return {"messages": messages + tool_lookup(rng), "tools": TOOLS}
    for user, assistant in rng.choice(INTENTS)(rng):
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": messages}


def unique(make: object, count: int, rng: random.Random) -> list[dict[str, object]]:
    """``count`` distinct examples (a repeat would be a duplicate_example warning)."""
    seen: set[str] = set()
    found: list[dict[str, object]] = []
    while len(found) < count:
        example = make(rng)  # type: ignore[operator]
        key = json.dumps(example, sort_keys=True)
        if key not in seen:
            seen.add(key)
            found.append(example)
    return found


def main() -> None:
    rng = random.Random(SEED)
    with (HERE / "support_chat.jsonl").open("w", encoding="utf-8", newline="\n") as out:
        for example in unique(chat_example, CHAT_EXAMPLES, rng):
            out.write(json.dumps(example, ensure_ascii=False) + "\n")

    def single_turn(rng: random.Random) -> dict[str, object]:
        user, assistant = rng.choice(INTENTS)(rng)[0]
        return {"system": SYSTEM, "user": user, "assistant": assistant}

    with (HERE / "support_faq.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["system", "user", "assistant"])
        writer.writeheader()
        writer.writerows(unique(single_turn, CSV_ROWS, rng))


if __name__ == "__main__":
    main()
