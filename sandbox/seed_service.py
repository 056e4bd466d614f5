"""Seed the service platform: end users for customers, agents, tickets and their comments."""

from __future__ import annotations

import html
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sandbox.model import Row, SandboxData, stamp
from sandbox.seed_orders import OrderPlan

AGENTS = ("Sam Carter", "Priya Nair", "Tom Okafor", "Lena Fischer", "Marco Bianchi",
          "Aoife Byrne", "Yusuf Demir", "Hannah Moss")
USER_BASE, AGENT_BASE, ID_STRIDE = 361_200_000_000, 361_100_000_000, 7_919
COMMENT_BASE = 21_000_000_000
# (situation, subject, type, tags, opening message, agent reply)
TEMPLATES: dict[str, tuple[str, str, tuple[str, ...], str, str]] = {
    "wismo": ("Where is my order {order}?", "question", ("wismo", "delivery"),
              "Hi, I placed order {order} on {placed} and it hasn't arrived yet. Where is it?",
              "Thanks for getting in touch. Your parcel is on its way and should arrive shortly."),
    "damaged": ("Item arrived damaged ({order})", "problem", ("damaged", "return"),
                "One of the items in order {order} arrived broken. The box was crushed.",
                "Sorry to hear that! Could you send us a photo of the damage so we can help?"),
    "wrong_item": ("Wrong item received in order {order}", "incident", ("wrong_item",),
                   "I received a different item than the one I ordered in {order}.",
                   "Apologies for the mix-up. We'll arrange a return and send the right item."),
    "size": ("Can I exchange for another size? ({order})", "question", ("exchange",),
             "The item from order {order} doesn't fit. Can I swap it for a bigger size?",
             "Of course. You can return it within 30 days of delivery for an exchange."),
    "refund": ("Still waiting for my refund ({order})", "question", ("refund",),
               "I sent back part of order {order} but haven't seen the refund yet.",
               "Your refund has been processed; it can take 3-5 working days to show."),
    "cancel": ("Please cancel order {order}", "task", ("cancellation",),
               "I ordered by mistake, please cancel order {order}.",
               "Done - the order has been cancelled and you won't be charged."),
}
GENERAL = (("Loyalty points not showing", ("loyalty",),
            "My loyalty points from last month are missing from my account."),
           ("How do I change my email address?", ("account",),
            "I'd like to update the email address on my account."),
           ("Store opening hours over the holidays", ("stores",),
            "Are your stores open on bank holidays?"),
           ("Gift card balance", ("gift_card",), "How can I check the balance of my gift card?"))


@dataclass
class TicketPlan:
    """A ticket to create: who, about what, when, and how far it got."""

    requester: Row
    created_at: datetime
    order: OrderPlan | None
    situation: str
    status: str | None = None
    priority: str | None = None


def tier_for(points: int) -> str:
    """Loyalty tier from lifetime points."""
    return "platinum" if points >= 5000 else "gold" if points >= 2000 else \
        "silver" if points >= 500 else "bronze"


def build_users(data: SandboxData, customers: list[Row], spend: dict[str, Decimal],
                horizon: datetime) -> None:
    """One end user per customer (external_id = customer number) and a team of agents."""
    for index, name in enumerate(AGENTS):
        user_id = AGENT_BASE + ID_STRIDE * (index + 1)
        created = stamp(horizon - timedelta(days=900 - index))
        data.users[user_id] = {
            "id": user_id, "name": name,
            "email": f"{name.lower().replace(' ', '.')}@support.example.com",
            "phone": None, "external_id": None, "role": "agent",
            "user_fields": {"loyalty_tier": None, "loyalty_points": 0},
            "created_at": created, "updated_at": created}
    for index, customer in enumerate(customers):
        user_id = USER_BASE + ID_STRIDE * (index + 1)
        points = int(spend.get(customer["number"], Decimal(0)))
        tier = "gold" if index == 0 else tier_for(points)
        created = stamp(horizon - timedelta(days=560 + (index * 37) % 200))
        data.users[user_id] = {
            "id": user_id, "name": customer["displayName"], "email": customer["email"],
            "phone": customer["phoneNumber"], "external_id": customer["number"],
            "role": "end-user", "user_fields": {"loyalty_tier": tier, "loyalty_points": points},
            "created_at": created, "updated_at": created}
        data.users_by_external_id[customer["number"]] = user_id


def situation_for(order: OrderPlan, at: datetime, rng: random.Random) -> str:
    """What a customer would write about this order at that moment."""
    if order.cancelled:
        return "cancel"
    if order.returns and order.returns[0].created_at < at:
        return "refund"
    delivered = order.delivered_at
    if delivered is None or delivered > at:
        return "wismo"
    return rng.choices(("damaged", "wrong_item", "size"), (45, 20, 35))[0]


def status_for(age: timedelta, rng: random.Random) -> str:
    """Ticket status fitting its age."""
    days = age.days
    if days >= 14:
        return rng.choices(("closed", "solved"), (75, 25))[0]
    if days >= 5:
        return rng.choices(("solved", "closed", "pending", "hold"), (60, 15, 15, 10))[0]
    if days >= 1:
        return rng.choices(("open", "pending", "solved", "hold"), (40, 30, 20, 10))[0]
    return rng.choices(("new", "open"), (60, 40))[0]


def add_ticket(data: SandboxData, rng: random.Random, horizon: datetime, plan: TicketPlan) -> Row:
    """Create one ticket with a plausible comment thread, all before the horizon."""
    ticket_id = data.next_number("ticket")
    requester_id = data.users_by_external_id[plan.requester["number"]]
    status = plan.status or status_for(horizon - plan.created_at, rng)
    agent_id = AGENT_BASE + ID_STRIDE * rng.randint(1, len(AGENTS))
    order_number = plan.order.number if plan.order else None
    if plan.situation in TEMPLATES:
        subject, kind, tags, opening, reply = TEMPLATES[plan.situation]
        placed = plan.order.placed_at.date().isoformat() if plan.order else ""
        subject = subject.format(order=order_number)
        opening = opening.format(order=order_number, placed=placed)
    else:
        subject, tags, opening = GENERAL[rng.randrange(len(GENERAL))]
        kind, reply = "question", "Thanks for asking - here is what you need to know."
    thread = [(requester_id, opening, True)]
    if status != "new":
        if rng.random() < 0.2:
            thread.append((agent_id, "Checked the order history before replying.", False))
        thread.append((agent_id, reply, True))
        if status in ("solved", "closed"):
            thread.append((requester_id, "Thank you, that sorts it.", True))
            thread.append((agent_id, "Glad we could help. Marking this as solved.", True))
        elif status == "open":
            thread.append((requester_id, "Thanks - I've attached the photos you asked for.", True))
    moment, comments = plan.created_at, []
    for author, body, public in thread:
        if moment > horizon:
            break
        comment_id = COMMENT_BASE + data.next_number("comment")
        comments.append({"id": comment_id, "type": "Comment", "author_id": author, "body": body,
                         "html_body": f'<div class="zd-comment"><p>{html.escape(body)}</p></div>',
                         "public": public, "created_at": stamp(moment)})
        moment += timedelta(minutes=rng.randint(20, 60 * 14))
    ticket = {
        "id": ticket_id, "external_id": order_number, "type": kind, "subject": subject,
        "description": opening, "priority": plan.priority or (
            None if status == "new" and rng.random() < 0.5
            else rng.choices(("urgent", "high", "normal", "low"), (5, 20, 60, 15))[0]),
        "status": status, "requester_id": requester_id,
        "assignee_id": None if status == "new" else agent_id, "tags": list(tags),
        "via": {"channel": rng.choices(("email", "web", "voice", "chat"), (40, 35, 10, 15))[0]},
        "custom_fields": [{"id": 360_000_100_001, "value": order_number},
                          {"id": 360_000_100_002, "value": plan.situation}],
        "created_at": stamp(plan.created_at), "updated_at": comments[-1]["created_at"],
    }
    data.index_ticket(ticket)
    data.comments[ticket_id] = comments
    return ticket


def random_ticket(rng: random.Random, customers: list[Row], by_offset: dict[int, list[OrderPlan]],
                  offset: int, created: datetime) -> TicketPlan:
    """A ticket about a recent order (three in four) or a general question."""
    if rng.random() < 0.75:
        for _ in range(6):
            candidates = by_offset.get(offset + rng.randint(1, 21), [])
            if candidates:
                order = rng.choice(candidates)
                return TicketPlan(order.customer, created, order,
                                  situation_for(order, created, rng))
    return TicketPlan(rng.choice(customers[1:]), created, None, "general")
