"""Traffic-source channel types (SPEC §6) from the data-driven rules of channels.json: every
type, the order the rules apply in, lower-case comparison, and an operator's own rules
document (no database: `ChannelRules` is pure)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pegada.attribution.rules import DEFAULT_RULES_PATH, ChannelRules, Touch

PAGE = "www.escola.edu.br"

EMAIL = "Email"
PAID = "Mídia paga"
OTHER_ADS = "Outras publicidades"
DISPLAY = "Display"
SOCIAL = "Social"
ORGANIC = "Busca orgânica"
REFERRAL = "Referência"
DIRECT = "Acesso direto"
OTHER = "Outros"


@pytest.fixture(scope="module")
def rules() -> ChannelRules:
    return ChannelRules.load()


def document() -> dict[str, Any]:
    """A fresh copy of the shipped rules document, for an operator to change."""
    loaded: dict[str, Any] = json.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    return copy.deepcopy(loaded)


def channel(rules: ChannelRules, referrer: str | None = None, **params: str) -> str:
    return rules.classify(Touch(params, referrer, PAGE)).channel


# (campaign parameters, referrer host, expected channel): one row per case, in the order of
# the SPEC §6 table.
CASES: list[tuple[dict[str, str], str | None, str]] = [
    # Email: utm_medium=email, whatever else is there.
    ({"utm_medium": "email", "utm_source": "newsletter"}, None, EMAIL),
    ({"utm_medium": "email", "utm_source": "google"}, "mail.google.com", EMAIL),
    ({"utm_medium": "e-mail"}, None, EMAIL),
    # Mídia paga: cpc/ppc and a mapped source.
    ({"utm_medium": "cpc", "utm_source": "Google"}, None, PAID),
    ({"utm_medium": "cpc", "utm_source": "instagram"}, None, PAID),
    ({"utm_medium": "cpc", "utm_source": "bing"}, "www.bing.com", PAID),
    ({"utm_medium": "ppc", "utm_source": "facebook"}, None, PAID),
    ({"utm_medium": "cpc", "utm_source": "google ads"}, None, PAID),
    ({"utm_medium": "cpc", "utm_source": "guia da faculdade"}, None, PAID),
    # Outras publicidades: cpc/ppc, source not mapped.
    ({"utm_medium": "cpc", "utm_source": "portal-parceiro"}, None, OTHER_ADS),
    ({"utm_medium": "ppc", "utm_source": "xyz-ads"}, None, OTHER_ADS),
    ({"utm_medium": "cpc"}, None, OTHER_ADS),
    # Display: an ad click id without UTM, or a display medium.
    ({"gclid": "Cj0KCQ"}, None, DISPLAY),
    ({"fbclid": "IwAR0"}, "l.facebook.com", DISPLAY),
    ({"msclkid": "abc123"}, "www.bing.com", DISPLAY),
    ({"ttclid": "E.C.P"}, None, DISPLAY),
    ({"utm_medium": "cpm", "utm_source": "dv360"}, None, DISPLAY),
    ({"utm_medium": "video", "utm_source": "youtube"}, None, DISPLAY),
    ({"utm_medium": "display", "utm_source": "portal-parceiro"}, None, DISPLAY),
    ({"utm_medium": "banner", "utm_source": "globo"}, None, DISPLAY),
    # Social: a social utm_source, or (without UTM) a social network's referrer.
    ({"utm_source": "facebook"}, None, SOCIAL),
    ({"utm_source": "twitter", "utm_medium": "social"}, None, SOCIAL),
    ({"utm_source": "instagram", "utm_campaign": "bio"}, None, SOCIAL),
    ({"utm_source": "youtube"}, None, SOCIAL),
    ({"utm_source": "linkedin", "utm_medium": "post"}, None, SOCIAL),
    ({}, "l.facebook.com", SOCIAL),
    ({}, "lm.facebook.com", SOCIAL),
    ({}, "t.co", SOCIAL),
    ({}, "lnkd.in", SOCIAL),
    ({}, "www.instagram.com", SOCIAL),
    ({}, "m.youtube.com", SOCIAL),
    # Busca orgânica: no UTM and a search engine's referrer.
    ({}, "www.google.com.br", ORGANIC),
    ({}, "www.google.com", ORGANIC),
    ({}, "www.google.co.uk", ORGANIC),
    ({}, "www.bing.com", ORGANIC),
    ({}, "duckduckgo.com", ORGANIC),
    ({}, "br.search.yahoo.com", ORGANIC),
    ({}, "yandex.ru", ORGANIC),
    ({}, "www.ecosia.org", ORGANIC),
    ({}, "busca.uol.com.br", ORGANIC),
    # Referência: an unmapped site (or a mapped site that is neither search nor social).
    ({}, "www.guiadoestudante.abril.com.br", REFERRAL),
    ({}, "blog.parceiro.org", REFERRAL),
    ({}, "mail.google.com", REFERRAL),
    ({}, "www.globo.com", REFERRAL),
    ({}, "escola.edu.br.evil.com", REFERRAL),
    # Acesso direto: nothing at all, or only an internal referrer.
    ({}, None, DIRECT),
    ({}, PAGE, DIRECT),
    ({}, "escola.edu.br", DIRECT),
    # Outros: parameters that fit no rule.
    ({"utm_source": "newsletter"}, None, OTHER),
    ({"utm_campaign": "vestibular-2025"}, None, OTHER),
    ({"utm_source": "folheto", "utm_medium": "qr"}, None, OTHER),
]


@pytest.mark.parametrize(("params", "referrer", "expected"), CASES)
def test_every_channel_type(
    rules: ChannelRules, params: dict[str, str], referrer: str | None, expected: str
) -> None:
    assert channel(rules, referrer, **params) == expected


@pytest.mark.parametrize(
    ("params", "referrer", "expected"),
    [
        # Email beats an ad click id.
        ({"utm_medium": "email", "gclid": "X"}, None, EMAIL),
        # Paid with a mapped source beats the click id the same ad carries.
        ({"utm_medium": "cpc", "utm_source": "google", "gclid": "X"}, "www.google.com", PAID),
        ({"utm_medium": "cpc", "utm_source": "portal", "gclid": "X"}, None, OTHER_ADS),
        # A click id beats the search engine the visitor came through.
        ({"gclid": "X"}, "www.google.com.br", DISPLAY),
        # Display medium beats a social source.
        ({"utm_medium": "display", "utm_source": "facebook"}, None, DISPLAY),
        # UTM present: a search engine referrer is not organic search, nor a social
        # network's referrer social.
        ({"utm_source": "newsletter"}, "www.google.com.br", OTHER),
        ({"utm_campaign": "x"}, "www.bing.com", OTHER),
        ({"utm_source": "newsletter"}, "l.facebook.com", OTHER),
        # A social utm_source wins over the search engine in the referrer.
        ({"utm_source": "youtube"}, "www.google.com", SOCIAL),
        # A click id alone is a parameter: with no referrer it is not direct access.
        ({"yclid": "1"}, None, DISPLAY),
    ],
)
def test_rules_apply_in_the_order_of_the_table(
    rules: ChannelRules, params: dict[str, str], referrer: str | None, expected: str
) -> None:
    assert channel(rules, referrer, **params) == expected


def test_values_names_and_hosts_are_compared_in_lower_case(rules: ChannelRules) -> None:
    assert channel(rules, None, UTM_MEDIUM="CPC", UTM_SOURCE="GOOGLE") == PAID
    assert channel(rules, None, utm_medium="EMAIL") == EMAIL
    assert channel(rules, None, utm_medium="Banner", utm_source="x") == DISPLAY
    assert channel(rules, None, utm_source="Facebook") == SOCIAL
    assert channel(rules, None, GCLID="X") == DISPLAY
    assert channel(rules, "WWW.GOOGLE.COM.BR") == ORGANIC
    assert channel(rules, "T.CO") == SOCIAL
    # The page's own host in another case is still internal.
    assert rules.classify(Touch({}, "WWW.Escola.EDU.br", "www.escola.edu.br")).channel == DIRECT


def test_blank_parameters_count_as_absent(rules: ChannelRules) -> None:
    assert channel(rules, None, utm_source="", utm_medium="  ") == DIRECT
    assert channel(rules, "www.google.com", utm_campaign=" ") == ORGANIC


def test_internal_referrer_counts_as_no_referrer(rules: ChannelRules) -> None:
    internal = rules.classify(Touch({}, "escola.edu.br", "www.escola.edu.br"))
    assert internal.channel == DIRECT
    assert internal.referrer_kind == "none"
    assert internal.source is None


def test_gmail_is_not_organic_search(rules: ChannelRules) -> None:
    gmail = rules.classify(Touch({}, "mail.google.com", PAGE))
    assert gmail.channel != ORGANIC
    assert gmail.referrer_kind == "other"
    assert gmail.source == "gmail"


def test_lookalike_hosts_are_not_search_engines(rules: ChannelRules) -> None:
    # google.* means google plus a public suffix, not any host with a "google" label.
    assert channel(rules, "google.evil-site.com") == REFERRAL
    assert channel(rules, "mygoogle.com") == REFERRAL
    assert channel(rules, "notbing.com") == REFERRAL


def test_classification_names_source_medium_and_campaign(rules: ChannelRules) -> None:
    paid = rules.classify(
        Touch(
            {"utm_source": "Google", "utm_medium": "CPC", "utm_campaign": "Vestibular-2025"},
            "www.google.com",
            PAGE,
        )
    )
    assert (paid.channel, paid.source, paid.medium, paid.campaign) == (
        PAID,
        "google",
        "cpc",
        "Vestibular-2025",
    )
    organic = rules.classify(Touch({}, "www.google.com.br", PAGE))
    assert (organic.source, organic.medium, organic.referrer_kind) == ("google", None, "search")
    referral = rules.classify(Touch({}, "www.parceiro.org", PAGE))
    assert (referral.source, referral.referrer_kind) == ("parceiro.org", "other")
    direct = rules.classify(Touch({}, None, PAGE))
    assert (direct.source, direct.medium, direct.campaign) == (None, None, None)
    assert direct.rules_version == rules.version


# SPEC §6's list of mapped sources, as written there.
SPEC_MAPPED_SOURCES = (
    "360.cn, alice, alltheweb, altavista, amazon, aol, ask, auone, avg, babylon, baidu, "
    "biglobe, bing, brasil-escola, catraca-livre, centrum.cz, cnn, comcast, conduit, ctv, "
    "daum, discovery, duckduckgo, dv360, ecosia, ekolay, eniro, estadão, facebook, "
    "facebook messenger, folha de são paulo, globo, gmail, go.mail.ru, goo.ne, google, "
    "guia da faculdade, haosou.com, incredimail, instagram, kvasir, linkedin, lycos, mamma, "
    "meta, msn, mynet, najdi, naver, netscape, onet, out of home, outbrain, ozu, pinterest, "
    "portal administradores, rakuten, rambler, ruf, ranking universitário folha, "
    "search-results, search.smt.docomo, seznam, so.com, sogou, spotify, startsiden, szukacz, "
    "taboola, tecmundo, telegram, terra, tiktok, tut.by, twitter / x, twitter, x, ukr, uol, "
    "virgilio, voila, whatsapp, wirtulana polska, yahoo, yam, yandex, youtube"
).split(", ")


@pytest.mark.parametrize("source", SPEC_MAPPED_SOURCES)
def test_every_spec_mapped_source_makes_cpc_paid_media(rules: ChannelRules, source: str) -> None:
    assert channel(rules, None, utm_medium="cpc", utm_source=source) == PAID
    assert channel(rules, None, utm_medium="cpc", utm_source=source.upper()) == PAID


def test_operator_adds_a_mapped_source() -> None:
    extended = document()
    extended["sources"]["portal-parceiro"] = {"kind": "other", "hosts": ["portalparceiro.com.br"]}
    default, custom = ChannelRules.load(), ChannelRules(extended)
    touch = Touch({"utm_medium": "cpc", "utm_source": "portal-parceiro"}, None, PAGE)
    assert default.classify(touch).channel == OTHER_ADS
    assert custom.classify(touch).channel == PAID


def test_operator_adds_a_search_engine_host() -> None:
    extended = document()
    extended["sources"]["busca-escolar"] = {"kind": "search", "hosts": ["buscaescolar.com.br"]}
    touch = Touch({}, "www.buscaescolar.com.br", PAGE)
    assert ChannelRules.load().classify(touch).channel == REFERRAL
    assert ChannelRules(extended).classify(touch).channel == ORGANIC


def test_operator_adds_a_rule_in_front() -> None:
    extended = document()
    extended["rules"].insert(0, {"channel": "WhatsApp", "when": {"medium_in": ["whatsapp"]}})
    extended["version"] = 2
    touch = Touch({"utm_medium": "WhatsApp", "utm_source": "lista"}, None, PAGE)
    assert ChannelRules.load().classify(touch).channel == OTHER
    custom = ChannelRules(extended).classify(touch)
    assert (custom.channel, custom.rules_version) == ("WhatsApp", 2)


def test_operator_extends_the_paid_mediums_list() -> None:
    extended = document()
    extended["paid_mediums"].append("Paid_Social")
    touch = Touch({"utm_medium": "paid_social", "utm_source": "meta"}, None, PAGE)
    assert ChannelRules.load().classify(touch).channel == OTHER
    assert ChannelRules(extended).classify(touch).channel == PAID


def test_unknown_condition_is_refused_naming_it() -> None:
    broken = document()
    broken["rules"][0]["when"] = {"medium_is": "email"}
    with pytest.raises(ValueError, match="medium_is"):
        ChannelRules(broken)


def test_unknown_condition_inside_any_is_refused_naming_it() -> None:
    broken = document()
    broken["rules"][3]["when"]["any"].append({"clickid": True})
    with pytest.raises(ValueError, match=r"clickid.*rules\[3\]"):
        ChannelRules(broken)


def test_unknown_medium_list_is_refused_when_loaded() -> None:
    broken = document()
    broken["rules"][1]["when"]["medium_in_list"] = "pago_mediums"
    with pytest.raises(ValueError, match="pago_mediums"):
        ChannelRules(broken)


def test_channel_name_too_long_for_storage_is_refused() -> None:
    broken = document()
    broken["rules"][0]["channel"] = "E" * 41
    with pytest.raises(ValueError, match="channel name"):
        ChannelRules(broken)


@pytest.mark.parametrize("key", ["rules", "sources", "click_ids", "paid_mediums"])
def test_missing_section_is_refused_naming_it(key: str) -> None:
    broken = document()
    del broken[key]
    with pytest.raises(ValueError, match=key):
        ChannelRules(broken)


def test_rule_without_conditions_is_refused() -> None:
    broken = document()
    del broken["rules"][0]["when"]
    with pytest.raises(ValueError, match="when"):
        ChannelRules(broken)


def test_shipped_document_is_valid_and_ends_with_a_catch_all() -> None:
    rules = ChannelRules.load()
    assert [name for name, _ in rules.rules] == [
        EMAIL,
        PAID,
        OTHER_ADS,
        DISPLAY,
        SOCIAL,
        ORGANIC,
        REFERRAL,
        DIRECT,
        OTHER,
    ]
    assert rules.rules[-1][1] == {}
