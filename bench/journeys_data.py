"""A year of a school's web journeys, generated for bench/journeys.py: rows for every table
the hit path, identify and sendEvent write, ready to be loaded straight into the database.

What the rows look like is what Pegada itself would have stored for the same traffic:

- **sessions** (one browser each: one device, one session hash) with one or more **visits**
  (a new visit only after more than 30 minutes idle, never across a local midnight), each
  visit a landing page and internal pages a few seconds to minutes apart;
- every landing is classified by the real channel rules (`pegada.attribution.rules`), from
  the same UTM parameters, click ids and referrers a browser would send: direct, organic
  search, social, paid (Google/Meta/Bing/TikTok with their click ids), display, e-mail,
  referral, other advertising; campaigns run for a few months each;
- **page views** carry what `journeys/regroup.py` gives them: the landing its own
  classification, internal pages the visit's channel; the tracker's per-site sequence
  numbers, with a few internal hits lost on the way (gaps for the completeness report) and
  some visits crossing to the enrolment site (a second host, its own numbering);
- **contacts** identified in one of their sessions' visits (some have several sessions, on
  other devices), with first touch (first visit across their sessions) and last touch (the
  visit under way at their latest identify), identity keys, the identify payloads; a share
  created by the CRM with no tracking ("Desconhecida"); accented Brazilian names, e-mails,
  valid CPFs, phones;
- **events** of four types: the enrolment form sent through the session (credited to the
  visit under way), CRM events without a session, and downloads from anonymous sessions;
- **refused hits** per day (bots, Do Not Track, bad URLs).

Traffic is uneven like a real school's: more on weekdays, peaks in the January and July
enrolment seasons, most sessions in the daytime and evening, a few very busy browsers.
Deterministic for a given seed.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from pegada.attribution.rules import Classification, Touch, default_rules
from pegada.identity.profile import profile_columns

ZONE = "America/Sao_Paulo"
RULES = default_rules()

# --- column orders of the rows (the loaders insert exactly these) ----------------------------

COLUMNS: dict[str, tuple[str, ...]] = {
    "sessions": (
        "id",
        "tenant_id",
        "session_hash",
        "contact_id",
        "created_at",
        "identified_at",
        "open_visit_id",
        "identity_claims",
    ),
    "visits": (
        "id",
        "tenant_id",
        "session_id",
        "started_at",
        "ended_at",
        "local_day",
        "page_count",
        "landing_url",
        "landing_host",
        "landing_path",
        "exit_url",
        "referrer",
        "referrer_host",
        "utm",
        "channel_type",
        "source",
        "medium",
        "campaign",
        "device_type",
        "os",
        "browser",
        "rules_version",
    ),
    "page_views": (
        "id",
        "tenant_id",
        "session_id",
        "visit_id",
        "seq",
        "occurred_at",
        "received_at",
        "url",
        "host",
        "path",
        "title",
        "referrer",
        "referrer_host",
        "utm",
        "channel_type",
        "source",
        "medium",
        "campaign",
        "device_type",
        "device_name",
        "os",
        "os_version",
        "browser",
        "browser_version",
        "screen",
        "language",
        "time_on_previous_ms",
        "ip_prefix",
    ),
    "contacts": (
        "id",
        "tenant_id",
        "codigo",
        "nome",
        "email",
        "cpf",
        "phone",
        "fields",
        "crm_fields",
        "created_channel_id",
        "first_touch",
        "last_touch",
        "first_channel",
        "converted_session_id",
        "converted_at",
        "merged_into",
        "search_text",
        "created_at",
        "updated_at",
    ),
    "contact_keys": ("tenant_id", "kind", "value", "contact_id", "created_at"),
    "events": (
        "id",
        "tenant_id",
        "event_type_id",
        "contact_id",
        "session_id",
        "channel_id",
        "visit_id",
        "channel_type",
        "codigo",
        "occurred_at",
        "fields",
        "created_at",
        "updated_at",
    ),
    "submissions": (
        "id",
        "tenant_id",
        "contact_id",
        "session_id",
        "channel_id",
        "endpoint",
        "payload",
        "notes",
        "created_at",
    ),
    "ingest_drops": ("tenant_id", "day", "reason", "count"),
}
#: Columns holding JSON documents (dicts/lists in the rows).
JSON_COLUMNS = {"utm", "fields", "crm_fields", "first_touch", "last_touch", "payload", "notes"}
#: Load order (foreign keys).
TABLES = (
    "contacts",
    "sessions",
    "visits",
    "page_views",
    "contact_keys",
    "events",
    "submissions",
    "ingest_drops",
)

# --- the school -------------------------------------------------------------------------------

EVENT_TYPES = (
    (29, "inscricao", "Inscrição no curso"),
    (30, "matricula", "Matrícula"),
    (31, "visita", "Visita ao campus"),
    (32, "edital", "Download do edital"),
)

COURSES = (
    "direito medicina enfermagem administracao psicologia engenharia-civil "
    "ciencia-da-computacao arquitetura pedagogia nutricao fisioterapia odontologia "
    "ciencias-contabeis jornalismo publicidade educacao-fisica farmacia biomedicina "
    "medicina-veterinaria design gastronomia letras historia matematica "
    "engenharia-de-software relacoes-internacionais economia marketing recursos-humanos "
    "logistica"
).split()
CORE_PAGES = (
    "/",
    "/cursos",
    "/vestibular",
    "/vestibular/inscricao",
    "/bolsas-e-financiamento",
    "/ead",
    "/pos-graduacao",
    "/contato",
    "/sobre",
    "/enem",
    "/transferencia",
    "/segunda-graduacao",
    "/calendario",
    "/biblioteca",
)
BLOG_TOPICS = (
    "como-escolher-um-curso",
    "nota-de-corte-enem",
    "bolsas-de-estudo",
    "mercado-de-trabalho",
    "dicas-para-o-vestibular",
    "fies-e-prouni",
    "vida-universitaria",
    "ead-ou-presencial",
)
ENROLMENT_PATHS = ("/formulario", "/formulario/documentos", "/formulario/confirmacao")

FIRST_NAMES = (
    ("João", 9),
    ("Maria", 10),
    ("José", 7),
    ("Ana", 8),
    ("Antônio", 4),
    ("Francisco", 3),
    ("Conceição", 2),
    ("Lúcia", 3),
    ("Márcia", 3),
    ("Fábio", 3),
    ("André", 3),
    ("Luís", 2),
    ("Júlia", 5),
    ("Beatriz", 4),
    ("Letícia", 4),
    ("Vitória", 3),
    ("Sérgio", 2),
    ("Inês", 1),
    ("Ângela", 2),
    ("Cecília", 2),
    ("Lucas", 6),
    ("Gabriel", 6),
    ("Rafael", 5),
    ("Pedro", 5),
    ("Matheus", 4),
    ("Larissa", 4),
    ("Camila", 4),
    ("Fernanda", 4),
    ("Bruna", 3),
    ("Thaís", 3),
    ("Caio", 2),
    ("Renê", 1),
    ("Noêmia", 1),
    ("Raí", 1),
    ("Mônica", 2),
    ("Patrícia", 3),
    ("Cláudio", 2),
    ("Vinícius", 3),
    ("Gustavo", 3),
    ("Isabela", 3),
)
SURNAMES = (
    ("Silva", 12),
    ("Santos", 9),
    ("Oliveira", 8),
    ("Souza", 7),
    ("Pereira", 5),
    ("Lima", 5),
    ("Carvalho", 4),
    ("Ferreira", 5),
    ("Rodrigues", 5),
    ("Almeida", 4),
    ("Araújo", 4),
    ("Gonçalves", 3),
    ("Conceição", 2),
    ("Magalhães", 2),
    ("Simões", 2),
    ("Brandão", 2),
    ("Falcão", 1),
    ("Guimarães", 2),
    ("Assunção", 1),
    ("Romão", 1),
    ("Lopes", 3),
    ("Ribeiro", 4),
    ("Martins", 4),
    ("Barbosa", 3),
    ("Rocha", 3),
    ("Dias", 3),
    ("Nascimento", 3),
    ("Andrade", 3),
    ("Moreira", 2),
    ("Nunes", 2),
)
MAIL_DOMAINS = (
    ("gmail.com", 55),
    ("hotmail.com", 18),
    ("outlook.com", 8),
    ("yahoo.com.br", 6),
    ("icloud.com", 5),
    ("uol.com.br", 3),
    ("bol.com.br", 3),
    ("terra.com.br", 2),
)
AREA_CODES = (11, 11, 11, 21, 21, 31, 41, 51, 61, 71, 81, 85, 62, 27, 48, 19, 12, 15, 16)

#: (device type, device name, OS, OS version, browser, browser version, screen, weight)
DEVICES = (
    ("phone", "Samsung SM-A155F", "Android", "14", "Chrome Mobile", "124.0", "412x915", 16),
    ("phone", "Motorola moto g54 5G", "Android", "14", "Chrome Mobile", "123.0", "393x873", 9),
    ("phone", "XiaoMi Redmi Note 12", "Android", "13", "Chrome Mobile", "122.0", "393x851", 8),
    ("phone", "Samsung SM-S911B", "Android", "14", "Samsung Internet", "24.0", "360x780", 4),
    ("phone", "Samsung SM-A055M", "Android", "13", "Chrome Mobile", "109.0", "360x800", 5),
    ("phone", "iPhone", "iOS", "17.4", "Mobile Safari", "17.4", "390x844", 12),
    ("phone", "iPhone", "iOS", "16.6", "Mobile Safari", "16.6", "375x667", 5),
    ("phone", "Samsung SM-A155F", "Android", "14", "Instagram", "321.0", "412x915", 3),
    ("phone", "iPhone", "iOS", "17.4", "Facebook", "455.0", "390x844", 2),
    ("desktop", None, "Windows", "10", "Chrome", "124.0", "1920x1080", 12),
    ("desktop", None, "Windows", "10", "Chrome", "121.0", "1366x768", 5),
    ("desktop", None, "Windows", "10", "Edge", "124.0", "1536x864", 5),
    ("desktop", None, "Windows", "10", "Firefox", "125.0", "1920x1080", 2),
    ("desktop", "Mac", "Mac OS X", "10.15", "Safari", "17.4", "1440x900", 3),
    ("desktop", "Mac", "Mac OS X", "10.15", "Chrome", "124.0", "1512x982", 2),
    ("desktop", None, "Linux", None, "Firefox", "124.0", "1920x1080", 1),
    ("desktop", None, "Chrome OS", "14541", "Chrome", "120.0", "1366x768", 1),
    ("tablet", "iPad", "iOS", "17.4", "Mobile Safari", "17.4", "820x1180", 2),
    ("tablet", "Samsung SM-X200", "Android", "13", "Chrome", "124.0", "800x1280", 1),
)

CAMPAIGN_NAMES = (
    "vestibular-{y}-1",
    "vestibular-{y}-2",
    "medicina-{y}",
    "ead-matriculas-abertas",
    "pos-graduacao-{y}",
    "bolsa-enem-{y}",
    "transferencia-facilitada",
    "segunda-graduacao",
    "direito-noturno",
    "engenharias-{y}",
    "saude-{y}",
    "black-friday-mensalidade",
    "open-day-campus",
    "remarketing-inscricao",
)


@dataclass(frozen=True)
class Tenancy:
    """The ids of one tenant's rows made before the load (through `pegada.tenancy`)."""

    tenant_id: int
    channel_id: int
    origem: int
    host_client: str
    event_type_ids: dict[int, int]  # API type id → event_types.id
    site: str  # e.g. "www.escola.edu.br"
    enrolment_site: str  # e.g. "inscricao.escola.edu.br"
    token: str  # the channel's, for the read API

    def same_ids(self, other: Tenancy) -> bool:
        return (self.tenant_id, self.channel_id, self.event_type_ids) == (
            other.tenant_id,
            other.channel_id,
            other.event_type_ids,
        )


@dataclass(frozen=True)
class Shape:
    hits: int
    contacts: int
    first_day: date
    last_day: date
    seed: int = 20250101


@dataclass
class Truth:
    """What the generator knows of one tenant, to check the reports and pick probes."""

    visits: int = 0
    pageviews: int = 0
    sessions: int = 0
    contacts: int = 0
    conversions: int = 0
    missing: int = 0
    #: Live contacts with the most timeline items, then some typical ones.
    busy_contacts: list[int] = field(default_factory=list)
    typical_contacts: list[int] = field(default_factory=list)
    #: (nome, e-mail, CPF as typed, phone as typed) of a few contacts.
    people: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    campaigns: list[str] = field(default_factory=list)


@dataclass
class Rows:
    tables: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {name: [] for name in TABLES}
    )
    truth: dict[int, Truth] = field(default_factory=dict)
    _ids: dict[str, itertools.count[int]] = field(
        default_factory=lambda: {name: itertools.count(1) for name in TABLES}
    )

    def next_id(self, table: str) -> int:
        return next(self._ids[table])

    def count(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.tables.items()}


# --- weighted choices ---------------------------------------------------------------------


class Pick:
    """A weighted choice with precomputed cumulative weights (fast in a hot loop)."""

    def __init__(self, items: Sequence[Any], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cum = list(itertools.accumulate(weights))

    def __call__(self, rng: random.Random) -> Any:
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]


def zipf(items: Sequence[Any], s: float = 1.0) -> Pick:
    return Pick(items, [1 / (k + 1) ** s for k in range(len(items))])


def title_of(path: str) -> str:
    if path == "/":
        return "Faculdade Exemplo — Graduação, Pós e EAD"
    last = path.rstrip("/").rsplit("/", 1)[-1].replace("-", " ")
    return f"{last.capitalize()} | Faculdade Exemplo"


# --- landings: where a visit comes from -----------------------------------------------------


@dataclass(frozen=True)
class Landing:
    url: str
    path: str
    referrer: str | None
    referrer_host: str | None
    utm: dict[str, str] | None
    classification: Classification


class Landings:
    """Landing pages and what brought the visitor, per channel, classified by the rules."""

    def __init__(self, tenancy: Tenancy, shape: Shape) -> None:
        self.site = tenancy.site
        self.internal = frozenset({_bare(tenancy.site), _bare(tenancy.enrolment_site)})
        self._classified: dict[tuple[Any, ...], Classification] = {}
        courses = [f"/cursos/{c}" for c in COURSES]
        blog = [f"/blog/{t}-{n}" for t in BLOG_TOPICS for n in range(1, 41)]
        news = [f"/noticias/{shape.first_day.year}/{n:03d}" for n in range(1, 121)]
        self.internal_pages = zipf(
            [
                "/cursos",
                "/vestibular/inscricao",
                "/vestibular",
                "/bolsas-e-financiamento",
                *courses[:10],
                "/contato",
                "/ead",
                *[f"{c}/grade" for c in courses[:15]],
                "/pos-graduacao",
                "/sobre",
                *courses[10:],
                *CORE_PAGES,
                *news[:30],
                *blog[:60],
            ],
            0.9,
        )
        self.pages: dict[str, Pick] = {
            "direct": Pick(["/", "/cursos", "/vestibular", "/ead", "/contato"], [60, 15, 12, 8, 5]),
            "organic": Pick(
                [zipf(blog, 1.05), zipf(courses, 0.9), zipf(news, 1.1), Pick(["/"], [1])],
                [45, 30, 10, 15],
            ),
            "campaign": zipf(
                [*courses, "/vestibular", "/ead", "/pos-graduacao", "/bolsas-e-financiamento"], 0.8
            ),
            "social": Pick(
                [zipf(blog, 1.0), zipf(courses, 0.9), Pick(["/vestibular"], [1])], [40, 40, 20]
            ),
            "referral": zipf([*courses, "/", "/vestibular"], 0.8),
        }
        year = shape.first_day.year
        names = [name.format(y=year + (1 if "-2" in name else 0)) for name in CAMPAIGN_NAMES]
        self.campaigns = names
        # Each campaign runs for 2 to 5 months somewhere in the year.
        span = (shape.last_day - shape.first_day).days
        rng = random.Random(shape.seed + 7)
        self.windows: list[tuple[str, date, date]] = []
        for name in names:
            start = shape.first_day + timedelta(days=rng.randrange(max(span - 60, 1)))
            self.windows.append((name, start, start + timedelta(days=rng.randint(60, 150))))

    def campaign(self, rng: random.Random, day: date) -> str:
        running = [name for name, start, end in self.windows if start <= day <= end]
        return rng.choice(running or self.campaigns)

    def _page(self, rng: random.Random, kind: str) -> str:
        chosen = self.pages[kind](rng)
        while isinstance(chosen, Pick):
            chosen = chosen(rng)
        return str(chosen)

    def _classify(self, params: dict[str, str], referrer_host: str | None) -> Classification:
        key = (
            tuple(sorted((k, v if k.startswith("utm_") else "") for k, v in params.items())),
            referrer_host,
        )
        found = self._classified.get(key)
        if found is None:
            touch = Touch(params, referrer_host, self.site, self.internal)
            found = self._classified[key] = RULES.classify(touch)
        return found

    def make(self, rng: random.Random, kind: str, day: date) -> Landing:
        """A landing of one kind of traffic: direct, organic, social, social_ad, paid,
        display, email, referral, other_ads."""
        params: dict[str, str] = {}
        referrer: str | None = None
        page_kind = "campaign"
        if kind == "direct":
            page_kind = "direct"
        elif kind == "organic":
            page_kind = "organic"
            referrer = Pick(
                [
                    "https://www.google.com/",
                    "https://www.google.com.br/",
                    "https://www.bing.com/",
                    "https://duckduckgo.com/",
                    "https://search.yahoo.com/",
                ],
                [60, 22, 10, 5, 3],
            )(rng)
        elif kind == "social":
            page_kind = "social"
            referrer = Pick(
                [
                    "https://l.facebook.com/",
                    "https://www.instagram.com/",
                    "https://t.co/",
                    "https://www.linkedin.com/",
                    "https://www.youtube.com/",
                ],
                [40, 35, 8, 10, 7],
            )(rng)
        elif kind == "social_ad":
            source = Pick(["facebook", "instagram"], [60, 40])(rng)
            params = {"utm_source": source, "utm_medium": "social", "utm_campaign": ""}
            params["utm_campaign"] = self.campaign(rng, day)
        elif kind == "paid":
            source, click = Pick(
                [
                    ("google", "gclid"),
                    ("facebook", "fbclid"),
                    ("bing", "msclkid"),
                    ("tiktok", "ttclid"),
                ],
                [62, 25, 8, 5],
            )(rng)
            params = {
                "utm_source": source,
                "utm_medium": "cpc",
                "utm_campaign": self.campaign(rng, day),
                click: f"{rng.getrandbits(96):024x}",
            }
            if rng.random() < 0.5:
                params["utm_term"] = rng.choice(COURSES).replace("-", " ")
        elif kind == "display":
            if rng.random() < 0.5:
                params = {"gclid": f"{rng.getrandbits(96):024x}"}
            else:
                params = {
                    "utm_source": "dv360",
                    "utm_medium": Pick(["display", "banner", "video"], [60, 25, 15])(rng),
                    "utm_campaign": self.campaign(rng, day),
                }
        elif kind == "email":
            params = {
                "utm_source": Pick(["newsletter", "rd-station", "crm"], [50, 35, 15])(rng),
                "utm_medium": "email",
                "utm_campaign": self.campaign(rng, day),
            }
        elif kind == "referral":
            page_kind = "referral"
            referrer = Pick(
                [
                    "https://www.guiadacarreira.com.br/faculdades/",
                    "https://www.educamaisbrasil.com.br/",
                    "https://querobolsa.com.br/",
                    "https://www.reclameaqui.com.br/",
                    "https://pt.wikipedia.org/",
                    "https://chat.openai.com/",
                ],
                [25, 25, 20, 10, 10, 10],
            )(rng)
        elif kind == "other_ads":
            params = {
                "utm_source": Pick(["parceiro-escolas", "jornal-local"], [60, 40])(rng),
                "utm_medium": "cpc",
                "utm_campaign": self.campaign(rng, day),
            }
        else:
            raise ValueError(kind)
        path = self._page(rng, page_kind)
        url = f"https://{self.site}{path}"
        if params:
            url += "?" + urlencode(params)
        ref_host = urlsplit(referrer).hostname if referrer else None
        return Landing(
            url, path, referrer, ref_host, params or None, self._classify(params, ref_host)
        )


def _bare(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


#: The kinds of arrival a visit is drawn from (first visits and returns weigh them apart).
ARRIVALS = [
    "direct",
    "organic",
    "social",
    "social_ad",
    "paid",
    "display",
    "email",
    "referral",
    "other_ads",
]
FIRST_VISIT = Pick(
    ARRIVALS,
    [22, 27, 9, 5, 20, 3, 5, 7, 2],
)
RETURN_VISIT = Pick(
    ARRIVALS,
    [48, 18, 5, 3, 12, 2, 8, 3, 1],
)


# --- people -----------------------------------------------------------------------------------


def cpf_digits(rng: random.Random) -> str:
    base = [rng.randrange(10) for _ in range(9)]
    for size in (9, 10):
        total = sum(d * (size + 1 - i) for i, d in enumerate(base))
        base.append((total * 10 % 11) % 10)
    return "".join(map(str, base))


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


class People:
    """Unique, plausible people: accented names, e-mails, valid CPFs, mobile numbers."""

    first = Pick([n for n, _ in FIRST_NAMES], [w for _, w in FIRST_NAMES])
    last = Pick([n for n, _ in SURNAMES], [w for _, w in SURNAMES])
    domain = Pick([n for n, _ in MAIL_DOMAINS], [w for _, w in MAIL_DOMAINS])

    def __init__(self) -> None:
        self.emails: set[str] = set()
        self.cpfs: set[str] = set()
        self.phones: set[str] = set()
        #: (nome, e-mail, CPF as typed, phone as typed) of some people, for search probes.
        self.samples: list[tuple[str, str, str | None, str | None]] = []

    def make(self, rng: random.Random) -> dict[str, Any]:
        first = self.first(rng)
        surnames = [self.last(rng) for _ in range(1 if rng.random() < 0.4 else 2)]
        nome = " ".join([first, *surnames])
        stem = f"{_fold(first)}.{_fold(surnames[-1])}"
        email = f"{stem}@{self.domain(rng)}"
        while email in self.emails:
            email = f"{stem}{rng.randrange(1, 9999)}@{self.domain(rng)}"
        self.emails.add(email)
        person: dict[str, Any] = {"nome": nome, "emailPrincipal": email}
        if rng.random() < 0.7:
            cpf = cpf_digits(rng)
            while cpf in self.cpfs:
                cpf = cpf_digits(rng)
            self.cpfs.add(cpf)
            person["cpf"] = cpf
        if rng.random() < 0.8:
            area = rng.choice(AREA_CODES)
            number = f"9{rng.randrange(10**8):08d}"
            while f"55{area}{number}" in self.phones:
                number = f"9{rng.randrange(10**8):08d}"
            self.phones.add(f"55{area}{number}")
            person["phone"] = f"55{area}{number}"
            person["telefonePrincipal"] = f"({area}) {number[:5]}-{number[5:]}"
        if len(self.samples) < 8 and "cpf" in person and "phone" in person:
            self.samples.append(
                (nome, email, cpf_typed(person["cpf"]), person["telefonePrincipal"])
            )
        return person


def cpf_typed(cpf: str) -> str:
    return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"


# --- sessions and visits ----------------------------------------------------------------------


@dataclass
class VisitFact:
    id: int
    started_at: datetime
    ended_at: datetime
    channel: str
    touch: dict[str, Any]


@dataclass
class SessionFact:
    id: int
    hash: str
    created_at: datetime
    visits: list[VisitFact]
    contact_id: int | None = None
    identified_at: datetime | None = None
    identify_visit: VisitFact | None = None


SEASON = {
    1: 1.6,
    2: 1.4,
    3: 0.9,
    4: 0.8,
    5: 0.9,
    6: 1.3,
    7: 1.5,
    8: 1.0,
    9: 0.8,
    10: 0.9,
    11: 1.2,
    12: 0.8,
}
HOURS = Pick(
    list(range(24)),
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.5, 3, 5, 7, 8, 8, 7, 7, 7, 7, 6, 6, 7, 8, 9, 8, 5, 2.5],
)
#: Refused hits a day at 3,000 stored hits a day: (reason, fewest, most).
REFUSALS = (("bot", 30, 180), ("do_not_track", 5, 40), ("bad_url", 0, 2))
DAY_SECONDS = 86_400
#: No page after 23:58:40 local: an identify or event a little after stays on the same day.
LAST_SECOND = DAY_SECONDS - 80


class Generator:
    """Appends one tenant's rows at a time to `rows` (ids shared across tenants)."""

    def __init__(self, shape: Shape, rows: Rows) -> None:
        self.shape = shape
        self.rows = rows
        self.zone = ZoneInfo(ZONE)
        days = [
            shape.first_day + timedelta(days=n)
            for n in range((shape.last_day - shape.first_day).days + 1)
        ]
        self.day_pick = Pick(
            days, [SEASON[d.month] * (0.6 if d.weekday() >= 5 else 1.0) for d in days]
        )
        self.devices = Pick(DEVICES, [d[-1] for d in DEVICES])
        self.end = self.utc(shape.last_day, LAST_SECOND)

    def utc(self, day: date, second: int) -> datetime:
        local = datetime.combine(day, time(second // 3600, second // 60 % 60, second % 60))
        return local.replace(tzinfo=self.zone).astimezone(UTC)

    def local(self, moment: datetime) -> tuple[date, int]:
        here = moment.astimezone(self.zone)
        return here.date(), here.hour * 3600 + here.minute * 60 + here.second

    # --- one tenant ---

    def tenant(self, tenancy: Tenancy, hits: int, contacts: int) -> Truth:
        rng = random.Random(f"{self.shape.seed}-{tenancy.tenant_id}")
        truth = self.rows.truth.setdefault(tenancy.tenant_id, Truth())
        landings = Landings(tenancy, self.shape)
        truth.campaigns = landings.campaigns
        sessions: list[SessionFact] = []
        stored = 0
        while stored < hits:
            fact, count = self.session(rng, tenancy, landings, hits - stored)
            if fact is not None:
                sessions.append(fact)
                stored += count
        truth.sessions = len(sessions)
        self.people(rng, tenancy, sessions, contacts, truth)
        self.anonymous_events(rng, tenancy, sessions)
        self.drops(rng, tenancy)
        for fact in sessions:
            self.rows.tables["sessions"].append(
                (
                    fact.id,
                    tenancy.tenant_id,
                    fact.hash,
                    fact.contact_id,
                    fact.created_at,
                    fact.identified_at,
                    fact.visits[-1].id,
                    0,
                )
            )
        return truth

    def session(
        self, rng: random.Random, tenancy: Tenancy, landings: Landings, room: int
    ) -> tuple[SessionFact | None, int]:
        """One browser's visits; (None, 0) when its first visit falls outside the year."""
        device = self.devices(rng)
        busy = rng.random() < 0.01
        wanted = rng.randint(15, 60) if busy else 1 + min(int(rng.expovariate(1.6)), 25)
        day = self.day_pick(rng)
        start = self.utc(day, HOURS(rng) * 3600 + rng.randrange(3600))
        session_id = self.rows.next_id("sessions")
        ms = int(start.timestamp() * 1000)
        fact = SessionFact(session_id, f"{rng.getrandbits(108) % 10**32:032d}{ms:013d}", start, [])
        seqs: dict[str, int] = {}
        stored = 0
        first_view = len(self.rows.tables["page_views"])
        octet = rng.choice((177, 179, 186, 187, 189, 191, 200, 201))
        ip = f"{octet}.{rng.randrange(256)}.{rng.randrange(256)}.0/24"
        for number in range(wanted):
            if number:
                gap = (
                    rng.uniform(35 * 60, 8 * 3600)
                    if rng.random() < 0.35
                    else rng.uniform(86_400, 45 * 86_400)
                )
                start = fact.visits[-1].ended_at + timedelta(seconds=gap)
            kind = FIRST_VISIT(rng) if number == 0 else RETURN_VISIT(rng)
            visit = self.visit(rng, tenancy, landings, fact, start, kind, device, seqs, ip)
            if visit is None:
                break
            stored += visit
            if stored >= room:
                break
        if not fact.visits:
            return None, 0
        views = self.rows.tables["page_views"][first_view:]
        fact.created_at = views[0][6]  # when its first hit was received
        # Completeness: per site, the highest number stored minus the hits stored.
        top: dict[str, int] = {}
        for view in views:
            top[view[8]] = max(top.get(view[8], 0), view[4])
        self.rows.truth[tenancy.tenant_id].missing += sum(top.values()) - len(views)
        return fact, stored

    def visit(
        self,
        rng: random.Random,
        tenancy: Tenancy,
        landings: Landings,
        fact: SessionFact,
        start: datetime,
        kind: str,
        device: tuple[Any, ...],
        seqs: dict[str, int],
        ip: str,
    ) -> int | None:
        """Append one visit and its page views; returns the page views stored (None when
        the visit would start after the year)."""
        pages = 1 if rng.random() < 0.45 else 2 + min(int(rng.expovariate(0.4)), 30)
        gaps = [int(min(rng.lognormvariate(4.0, 0.9), 1500)) + 5 for _ in range(pages - 1)]
        day, second = self.local(start)
        if day > self.shape.last_day:
            return None
        if second + sum(gaps) > LAST_SECOND:
            # Starting later would cross midnight: a visit never spans two local days.
            second = max(LAST_SECOND - sum(gaps) - rng.randrange(600), 0)
            start = self.utc(day, second)
            previous = fact.visits[-1].ended_at if fact.visits else None
            if previous is not None and start - previous <= timedelta(minutes=31):
                return None
        landing = landings.make(rng, kind, day)
        c = landing.classification
        visit_id = self.rows.next_id("visits")
        views = self.rows.tables["page_views"]
        first_view = len(views)
        moment = start
        url, host, path, referrer = landing.url, tenancy.site, landing.path, landing.referrer
        cross = pages >= 3 and rng.random() < 0.08
        dtype, dname, os_, os_v, browser, browser_v, screen, _ = device
        for index in range(pages):
            if index:
                moment = moment + timedelta(seconds=gaps[index - 1])
                referrer = url
                if cross and index >= pages - 2:
                    host = tenancy.enrolment_site
                    path = ENROLMENT_PATHS[min(index - (pages - 2), 2)]
                else:
                    path = landings.internal_pages(rng)
                url = f"https://{host}{path}"
            seq = seqs.get(host, 0) + 1
            seqs[host] = seq
            if index and rng.random() < 0.005:
                continue  # lost on the way: its number is never stored
            landing_view = index == 0
            views.append(
                (
                    self.rows.next_id("page_views"),
                    tenancy.tenant_id,
                    fact.id,
                    visit_id,
                    seq,
                    moment,
                    moment + timedelta(milliseconds=rng.randint(150, 1800)),
                    url,
                    host,
                    path,
                    title_of(path),
                    referrer,
                    landing.referrer_host if landing_view else urlsplit(referrer or "").hostname,
                    landing.utm if landing_view else None,
                    c.channel,
                    c.source if landing_view else None,
                    c.medium if landing_view else None,
                    c.campaign if landing_view else None,
                    dtype,
                    dname,
                    os_,
                    os_v,
                    browser,
                    browser_v,
                    screen,
                    "pt-BR",
                    None if landing_view else gaps[index - 1] * 1000,
                    ip,
                )
            )
        stored = len(views) - first_view
        last = views[-1]
        self.rows.tables["visits"].append(
            (
                visit_id,
                tenancy.tenant_id,
                fact.id,
                start,
                last[5],
                day,
                stored,
                landing.url,
                tenancy.site,
                landing.path,
                last[7],
                landing.referrer,
                landing.referrer_host,
                landing.utm,
                c.channel,
                c.source,
                c.medium,
                c.campaign,
                dtype,
                os_,
                browser,
                c.rules_version,
            )
        )
        touch = {
            "channel": c.channel,
            "source": c.source,
            "medium": c.medium,
            "campaign": c.campaign,
            "landing_url": landing.url,
            "at": start.isoformat(),
            "visit_id": visit_id,
        }
        fact.visits.append(VisitFact(visit_id, start, last[5], c.channel, touch))
        truth = self.rows.truth[tenancy.tenant_id]
        truth.visits += 1
        truth.pageviews += stored
        return stored

    # --- contacts, identifies, events ---

    def people(
        self,
        rng: random.Random,
        tenancy: Tenancy,
        sessions: list[SessionFact],
        wanted: int,
        truth: Truth,
    ) -> None:
        crm_only = round(wanted * 0.08)
        tracked = wanted - crm_only
        size = Pick([1, 2, 3, 4, 5], [80, 14, 4, 1.2, 0.8])
        sizes = [size(rng) for _ in range(tracked)]
        # More engaged browsers identify more often (Efraimidis–Spirakis weighted sample).
        needed = min(sum(sizes), len(sessions))
        chosen = heapq.nlargest(
            needed, sessions, key=lambda s: rng.random() ** (1 / (1 + len(s.visits)))
        )
        rng.shuffle(chosen)
        people = People()
        cursor = 0
        scored: list[tuple[int, int]] = []
        for size in sizes:
            group = chosen[cursor : cursor + size]
            cursor += size
            if not group:
                break
            contact_id, items = self.tracked_contact(rng, tenancy, group, people)
            scored.append((items, contact_id))
        for _ in range(crm_only):
            self.crm_contact(rng, tenancy, people)
        truth.contacts = len(scored) + crm_only
        truth.conversions = sum(1 for s in sessions if s.identified_at is not None)
        scored.sort(reverse=True)
        truth.busy_contacts = [cid for _, cid in scored[:5]]
        typical = [cid for items, cid in scored if 4 <= items <= 12]
        truth.typical_contacts = rng.sample(typical, min(5, len(typical)))
        truth.people = people.samples

    def _contact_row(
        self,
        tenancy: Tenancy,
        contact_id: int,
        person: dict[str, Any],
        created: datetime,
        updated: datetime,
        first: dict[str, Any],
        last: dict[str, Any],
        converted: tuple[int, datetime] | None,
    ) -> None:
        profile = {k: v for k, v in person.items() if k != "phone"}
        profile |= {"email": [], "telefone": [], "tags": [], "camposPersonalizados": {}}
        profile["assinaturas"] = []
        columns = profile_columns(profile, person.get("phone"))
        given = ("nome", "emailPrincipal", "cpf", "telefonePrincipal")
        crm_fields = sorted(k for k in given if k in person)
        self.rows.tables["contacts"].append(
            (
                contact_id,
                tenancy.tenant_id,
                columns["codigo"],
                columns["nome"],
                columns["email"],
                columns["cpf"],
                columns["phone"],
                columns["fields"],
                crm_fields,
                tenancy.channel_id,
                first,
                last,
                first["channel"],
                converted[0] if converted else None,
                converted[1] if converted else None,
                None,
                columns["search_text"],
                created,
                updated,
            )
        )
        keys = self.rows.tables["contact_keys"]
        keys.append((tenancy.tenant_id, "email", person["emailPrincipal"], contact_id, created))
        if "cpf" in person:
            keys.append((tenancy.tenant_id, "cpf", person["cpf"], contact_id, created))
        if "phone" in person:
            keys.append((tenancy.tenant_id, "phone", person["phone"], contact_id, created))

    def _submission(
        self,
        tenancy: Tenancy,
        contact_id: int,
        person: dict[str, Any],
        at: datetime,
        session: SessionFact | None,
        substitute: str | None,
    ) -> None:
        payload: dict[str, Any] = {"origem": tenancy.origem}
        if session is not None:
            payload = {"hostClient": tenancy.host_client, "session_id": session.hash}
            if substitute is not None:
                payload["substitute_id"] = substitute
            payload["origem"] = tenancy.origem
        payload["nome"] = person["nome"]
        payload["emailPrincipal"] = person["emailPrincipal"]
        if "cpf" in person:
            payload["cpf"] = cpf_typed(person["cpf"])
        if "telefonePrincipal" in person:
            payload["telefonePrincipal"] = person["telefonePrincipal"]
        self.rows.tables["submissions"].append(
            (
                self.rows.next_id("submissions"),
                tenancy.tenant_id,
                contact_id,
                None if session is None else session.id,
                tenancy.channel_id,
                "identify" if session is not None else "Contato/cadastro",
                payload,
                [],
                at,
            )
        )

    def tracked_contact(
        self, rng: random.Random, tenancy: Tenancy, group: list[SessionFact], people: People
    ) -> tuple[int, int]:
        """A contact identified in each of `group`'s sessions; returns (id, timeline size)."""
        contact_id = self.rows.next_id("contacts")
        person = people.make(rng)
        for session in group:
            visits = session.visits
            # Later visits are likelier to be the one with the form.
            index = Pick(range(len(visits)), [1 + 2 * k for k in range(len(visits))])(rng)
            visit = visits[index]
            session.identify_visit = visit
            session.identified_at = visit.ended_at + timedelta(seconds=rng.randint(3, 40))
            session.contact_id = contact_id
        group.sort(key=lambda s: (s.identified_at, s.id))
        created = group[0].identified_at
        converted = group[-1]
        assert created is not None and converted.identified_at is not None
        assert converted.identify_visit is not None
        first = min((v for s in group for v in s.visits), key=lambda v: (v.started_at, v.id))
        events = self.contact_events(rng, tenancy, contact_id, created, group)
        updated = max([converted.identified_at, *(at for at in events)])
        self._contact_row(
            tenancy,
            contact_id,
            person,
            created,
            updated,
            first.touch,
            converted.identify_visit.touch,
            (converted.id, converted.identified_at),
        )
        keys = self.rows.tables["contact_keys"]
        for session in group:
            assert session.identified_at is not None
            ms = int(session.identified_at.timestamp() * 1000)
            substitute = f"{rng.getrandbits(108) % 10**32:032d}{ms:013d}"
            at = session.identified_at
            keys.append((tenancy.tenant_id, "substitute", substitute, contact_id, at))
            self._submission(tenancy, contact_id, person, at, session, substitute)
        if len(group) == 1 and rng.random() < 0.05:
            # Came back to the form later the same way (an update, not a new contact).
            later = group[0].visits[-1]
            if later.ended_at > converted.identified_at:
                self._submission(tenancy, contact_id, person, later.ended_at, group[0], None)
        items = sum(len(s.visits) for s in group) + len(events) + len(group)
        return contact_id, items

    def crm_contact(self, rng: random.Random, tenancy: Tenancy, people: People) -> None:
        contact_id = self.rows.next_id("contacts")
        person = people.make(rng)
        day = self.day_pick(rng)
        created = self.utc(day, rng.randint(8 * 3600, 19 * 3600))
        unknown = {"channel": RULES.unknown_channel}
        events = self.contact_events(rng, tenancy, contact_id, created, [])
        self._contact_row(
            tenancy, contact_id, person, created, max([created, *events]), unknown, unknown, None
        )
        self._submission(tenancy, contact_id, person, created, None, None)

    def _event(
        self,
        tenancy: Tenancy,
        type_id: int,
        contact_id: int | None,
        at: datetime,
        session: SessionFact | None = None,
        visit: VisitFact | None = None,
        codigo: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        self.rows.tables["events"].append(
            (
                self.rows.next_id("events"),
                tenancy.tenant_id,
                tenancy.event_type_ids[type_id],
                contact_id,
                None if session is None else session.id,
                tenancy.channel_id,
                None if visit is None else visit.id,
                None if visit is None else visit.channel,
                codigo,
                at,
                fields or {},
                at,
                at,
            )
        )

    def contact_events(
        self,
        rng: random.Random,
        tenancy: Tenancy,
        contact_id: int,
        created: datetime,
        group: list[SessionFact],
    ) -> list[datetime]:
        """The contact's events; returns their times."""
        times: list[datetime] = []
        course = rng.choice(COURSES)
        for session in group:
            if rng.random() < 0.55 and session.identified_at and session.identify_visit:
                at = session.identified_at + timedelta(seconds=rng.randint(1, 30))
                self._event(
                    tenancy,
                    29,
                    contact_id,
                    at,
                    session,
                    session.identify_visit,
                    fields={"codCurso": course, "descricao": f"Inscrição em {course}"},
                )
                times.append(at)
        for type_id, share, prefix in ((30, 0.15, "MAT"), (31, 0.10, "VIS")):
            if rng.random() < share:
                at = created + timedelta(days=rng.uniform(2, 60))
                if at <= self.end:
                    self._event(
                        tenancy,
                        type_id,
                        contact_id,
                        at,
                        codigo=f"{prefix}-{contact_id}",
                        fields={"codCurso": course},
                    )
                    times.append(at)
        return times

    def anonymous_events(
        self, rng: random.Random, tenancy: Tenancy, sessions: list[SessionFact]
    ) -> None:
        """Edital downloads sent by pages during a visit (the contact, if the session was
        identified; events waiting on anonymous sessions otherwise)."""
        for session in sessions:
            if rng.random() < 0.04:
                visit = rng.choice(session.visits)
                at = visit.started_at + (visit.ended_at - visit.started_at) / 2
                self._event(tenancy, 32, session.contact_id, at, session, visit)

    def drops(self, rng: random.Random, tenancy: Tenancy) -> None:
        day = self.shape.first_day
        scale = max(self.rows.truth[tenancy.tenant_id].pageviews / 365 / 3000, 0.02)
        while day <= self.shape.last_day:
            for reason, low, high in REFUSALS:
                count = int(rng.randint(low, high) * scale)
                if count:
                    drop = (tenancy.tenant_id, day, reason, count)
                    self.rows.tables["ingest_drops"].append(drop)
            day += timedelta(days=1)


def generate(shape: Shape, main: Tenancy, other: Tenancy, log: Callable[[str], None]) -> Rows:
    """The rows of both tenants: `main` gets the shape's hits and contacts, `other` one
    fiftieth (to show the reports never mix tenants)."""
    rows = Rows()
    generator = Generator(shape, rows)
    generator.tenant(main, shape.hits, shape.contacts)
    log(f"main tenant: {rows.count()}")
    generator.tenant(other, max(shape.hits // 50, 200), max(shape.contacts // 50, 20))
    return rows
