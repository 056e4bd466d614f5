"""Seed master data: locations, items, customers and the stock skeleton."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from sandbox.model import Row, SandboxData, guid, money, stamp

WAREHOUSES = ("LOC-01", "LOC-02", "LOC-03")
LOCATIONS: tuple[tuple[str, str, str, str, str], ...] = (
    ("LOC-01", "DC-NORTH", "Leeds Distribution Centre", "warehouse", "NORTH"),
    ("LOC-02", "DC-SOUTH", "Reading Distribution Centre", "warehouse", "SOUTH"),
    ("LOC-03", "DC-CENTRAL", "Daventry Distribution Centre", "warehouse", "CENTRAL"),
    ("LOC-04", "ST-LDN-OXF", "London Oxford Street", "store", "SOUTH"),
    ("LOC-05", "ST-LDN-CAN", "London Canary Wharf", "store", "EAST"),
    ("LOC-06", "ST-MAN", "Manchester Arndale", "store", "NORTH"),
    ("LOC-07", "ST-BHM", "Birmingham Bullring", "store", "CENTRAL"),
    ("LOC-08", "ST-BRS", "Bristol Cabot Circus", "store", "WEST"),
    ("LOC-09", "ST-EDI", "Edinburgh Princes Street", "store", "NORTH"),
    ("LOC-10", "ST-CDF", "Cardiff St David's", "store", "WEST"),
    ("LOC-11", "ST-NCL", "Newcastle Eldon Square", "store", "NORTH"),
    ("LOC-12", "ST-NRW", "Norwich Chantry Place", "store", "EAST"),
)
# Which warehouse serves a region, and which stores are near it.
WAREHOUSE_FOR_REGION = {"NORTH": "LOC-01", "SOUTH": "LOC-02", "EAST": "LOC-02",
                        "WEST": "LOC-02", "CENTRAL": "LOC-03"}
STORES_FOR_REGION = {region: [loc[0] for loc in LOCATIONS if loc[3] == "store" and loc[4] == region]
                     for region in ("NORTH", "SOUTH", "EAST", "WEST", "CENTRAL")}
CITIES = (("Leeds", "NORTH"), ("Manchester", "NORTH"), ("Newcastle", "NORTH"),
          ("Edinburgh", "NORTH"), ("York", "NORTH"), ("London", "SOUTH"), ("Brighton", "SOUTH"),
          ("Reading", "SOUTH"), ("Southampton", "SOUTH"), ("Norwich", "EAST"),
          ("Cambridge", "EAST"), ("Ipswich", "EAST"), ("Bristol", "WEST"), ("Cardiff", "WEST"),
          ("Exeter", "WEST"), ("Birmingham", "CENTRAL"), ("Nottingham", "CENTRAL"),
          ("Leicester", "CENTRAL"), ("Coventry", "CENTRAL"))
STREETS = ("High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane",
           "Manor Road", "Park Avenue", "Mill Lane", "King Street", "Queensway", "The Crescent",
           "Grange Road", "Orchard Close", "Albert Road", "Newton Street", "Babbage Way")
FIRST_NAMES = ("Grace", "Alan", "Katherine", "Tim", "Margaret", "Dennis", "Barbara", "Ken",
               "Frances", "Edsger", "Radia", "Donald", "Sophie", "Tony", "Karen", "John",
               "Shafi", "Leslie", "Hedy", "Claude", "Annie", "Niklaus", "Mary", "Linus",
               "Joan", "Vint", "Evelyn", "Guido", "Lynn", "Bjarne", "Carol", "James", "Priya",
               "Oluwaseun", "Mei", "Rahul", "Aisha", "Tomasz", "Chiara", "Diego", "Fatima",
               "Hiroshi", "Ingrid", "Kwame", "Lucia", "Mateo", "Nadia", "Omar", "Zara", "Ewan")
LAST_NAMES = ("Hopper", "Turing", "Johnson", "Berners-Lee", "Hamilton", "Ritchie", "Liskov",
              "Thompson", "Allen", "Dijkstra", "Perlman", "Knuth", "Wilson", "Hoare",
              "Sparck Jones", "Backus", "Goldwasser", "Lamport", "Lamarr", "Shannon", "Easley",
              "Wirth", "Keller", "Torvalds", "Clarke", "Cerf", "Boyd", "van Rossum", "Conway",
              "Stroustrup", "Shaw", "Gosling", "Patel", "Adeyemi", "Chen", "Sharma", "Khan",
              "Nowak", "Rossi", "Garcia", "Hassan", "Tanaka", "Larsen", "Mensah", "Fernandez",
              "Silva", "Petrova", "Farouk", "Ahmed", "Campbell")
COMPANY_SUFFIXES = ("Ltd", "Trading Ltd", "& Sons", "Interiors Ltd", "Outfitters", "Studio Ltd")
CATEGORIES: tuple[tuple[str, tuple[str, ...], int, int], ...] = (
    ("APPAREL", ("Crew Neck T-Shirt", "Oxford Shirt", "Chino Trousers", "Denim Jacket",
                 "Merino Jumper", "Rain Jacket", "Linen Dress", "Wool Scarf"), 12, 120),
    ("FOOTWEAR", ("Running Shoe", "Leather Boot", "Canvas Trainer", "Walking Boot",
                  "Sheepskin Slipper"), 25, 160),
    ("HOME", ("Cast Iron Skillet", "Linen Duvet Cover", "Ceramic Mug Set", "Table Lamp",
              "Bath Towel Set", "Glass Storage Jar", "Cotton Throw"), 8, 140),
    ("ELECTRONICS", ("Wireless Earbuds", "Bluetooth Speaker", "USB-C Charger", "Smart Plug",
                     "E-Reader", "Fitness Tracker"), 15, 300),
    ("BEAUTY", ("Face Serum", "Hand Cream", "Shampoo Bar", "Lip Balm Set"), 5, 60),
    ("TOYS", ("Wooden Train Set", "Jigsaw Puzzle 1000pc", "Building Blocks", "Plush Bear"), 8, 90),
    ("SPORTS", ("Yoga Mat", "Resistance Bands", "Steel Water Bottle", "Cycling Gloves",
                "Tennis Racket"), 6, 180),
)
COLOURS = ("Navy", "Charcoal", "Sage", "Oat", "Black", "Rust", "Sky", "Forest", "Ivory", "Plum")
NON_INVENTORY = (("Digital Gift Card 10", "10.00"), ("Digital Gift Card 25", "25.00"),
                 ("Digital Gift Card 50", "50.00"), ("Digital Gift Card 100", "100.00"),
                 ("E-Book Voucher", "7.99"))
SERVICES = (("Gift Wrapping", "3.50"), ("Extended Warranty 2 Years", "29.99"),
            ("Assembly Service", "45.00"), ("Next-Day Delivery", "5.99"), ("Engraving", "9.99"))
INVENTORY_SKUS = 290


def build_locations(data: SandboxData) -> None:
    """The 12 WMS locations: 3 warehouses and 9 stores."""
    data.locations = [{"id": loc_id, "code": code, "name": name, "type": kind, "region": region,
                       "timezone": "Europe/London"}
                      for loc_id, code, name, kind, region in LOCATIONS]


def _gtin(serial: int) -> str:
    body = f"50{serial:010d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def build_items(data: SandboxData, rng: random.Random, horizon: datetime) -> None:
    """300 items: 290 stocked, 5 non-inventory, 5 services."""
    table = data.erp["items"]
    for index in range(1, 301):
        sku = f"SKU-{index:05d}"
        if index <= INVENTORY_SKUS:
            category, nouns, low, high = CATEGORIES[index % len(CATEGORIES)]
            name = f"{rng.choice(nouns)}, {rng.choice(COLOURS)}"
            price = Decimal(rng.randint(low, high)) - Decimal("0.01")  # shelf prices end in .99
            kind = "Inventory"
        elif index <= INVENTORY_SKUS + len(NON_INVENTORY):
            name, text = NON_INVENTORY[index - INVENTORY_SKUS - 1]
            category, price, kind = "GIFTCARD", Decimal(text), "Non-Inventory"
        else:
            name, text = SERVICES[index - INVENTORY_SKUS - len(NON_INVENTORY) - 1]
            category, price, kind = "SERVICE", Decimal(text), "Service"
        margin = Decimal(rng.randint(38, 62)) / 100
        cost = money(price * margin) if kind == "Inventory" else money(0)
        table.put({
            "@odata.etag": data.next_etag(), "id": guid("item", sku), "number": sku,
            "displayName": name, "type": kind, "itemCategoryCode": category,
            "baseUnitOfMeasureCode": "PCS", "gtin": _gtin(index) if kind == "Inventory" else "",
            "unitPrice": money(price), "unitCost": cost, "inventory": 0,
            "blocked": index % 97 == 0,
            "lastModifiedDateTime": stamp(horizon - timedelta(days=rng.randint(20, 600))),
        })


def build_customers(data: SandboxData, rng: random.Random, horizon: datetime) -> list[Row]:
    """200 customers, C-10001 being Ada Lovelace; returns them in number order."""
    table = data.erp["customers"]
    used_emails: set[str] = set()
    customers = []
    for index in range(200):
        number = f"C-{10001 + index}"
        if index == 0:
            first, last, city, kind = "Ada", "Lovelace", "London", "Person"
            name, street = "Ada Lovelace", "12 St James's Square"
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            city = rng.choice(CITIES)[0]
            kind = "Company" if rng.random() < 0.08 else "Person"
            name = f"{last} {rng.choice(COMPANY_SUFFIXES)}" if kind == "Company" \
                else f"{first} {last}"
            street = f"{rng.randint(1, 240)} {rng.choice(STREETS)}"
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        email, suffix = f"{local}@example.com", 2
        while email in used_emails:
            email, suffix = f"{local}{suffix}@example.com", suffix + 1
        used_emails.add(email)
        blocked = " " if index == 0 or rng.random() > 0.03 else rng.choice(("Ship", "Invoice"))
        limits = (10000, 25000, 50000) if kind == "Company" else (0, 1000, 2500)
        limit = rng.choice(limits)
        row = {
            "@odata.etag": data.next_etag(), "id": guid("customer", number), "number": number,
            "displayName": name, "type": kind, "email": email,
            "phoneNumber": f"+44 20 7946 {index:04d}", "addressLine1": street, "city": city,
            "country": "GB", "currencyCode": "GBP", "creditLimit": money(limit),
            "balanceDue": money(0), "blocked": blocked,
            "lastModifiedDateTime": stamp(horizon - timedelta(days=rng.randint(30, 700))),
        }
        table.put(row)
        customers.append(row)
    return customers


def region_of(city: str) -> str:
    """The sales region of a customer's city."""
    return next(region for name, region in CITIES if name == city)


def build_stock(data: SandboxData, rng: random.Random, horizon: datetime) -> None:
    """On-hand stock per SKU and location: every warehouse, a share of SKUs in each store."""
    stores = [loc[0] for loc in LOCATIONS if loc[3] == "store"]
    for index in range(1, INVENTORY_SKUS + 1):
        sku = f"SKU-{index:05d}"
        levels: dict[str, Row] = {}
        for loc_id in WAREHOUSES:
            on_hand = 0 if rng.random() < 0.03 else rng.randint(12, 400)
            levels[loc_id] = _level(sku, loc_id, on_hand, rng, horizon, warehouse=True)
        for loc_id in stores:
            if rng.random() < 0.45:
                levels[loc_id] = _level(sku, loc_id, rng.randint(0, 25), rng, horizon,
                                        warehouse=False)
        data.inventory[sku] = levels


def _level(sku: str, loc_id: str, on_hand: int, rng: random.Random, horizon: datetime,
           *, warehouse: bool) -> Row:
    incoming = rng.choice((0, 0, 0, 50, 100, 200)) if warehouse else 0
    return {"sku": sku, "location_id": loc_id, "on_hand": on_hand, "reserved": 0,
            "available": on_hand, "incoming": incoming,
            "damaged": rng.choice((0, 0, 0, 0, 1, 2)),
            "updated_at": stamp(horizon - timedelta(minutes=rng.randint(5, 60 * 24 * 7)))}
