"""Where a headline happens: countries, their people and their cities, by name.

"Indonesian president to visit UK" and "Indonesian president to visit Australia" share every
word but one, and that one is the news. Word overlap cannot tell a place from a paraphrase, so
the scorer asks this table: two lines that each name a place the other does not (and not one
inside the other: "Athens" is in "Greece", "Texas" in the US) report different events.

The table is general knowledge, not tuned to any data: countries often in the news with their
demonyms, capitals and large cities, the US states, and the Arabic names of the countries of the
region. Names are folded as the scorer folds text; multi-word names are joined with "_".
"""

from __future__ import annotations

from collections.abc import Sequence

from ticker.stories.text import fold, strip_arabic

# key | names of the country and its people | its cities and regions (each a place of its own,
# inside the country). Arabic names are folded and stripped of the article when read.
_TABLE = """
afghanistan|afghanistan afghan afghans|kabul kandahar helmand
albania|albania albanian|tirana
algeria|algeria algerian algerians الجزائر|algiers
angola|angola angolan|luanda
argentina|argentina argentine argentinian|buenos_aires
armenia|armenia armenian|yerevan
australia|australia australian australians|canberra sydney melbourne brisbane perth
austria|austria austrian|vienna
azerbaijan|azerbaijan azerbaijani azeri|baku
bahrain|bahrain bahraini البحرين|manama
bangladesh|bangladesh bangladeshi|dhaka
belarus|belarus belarusian|minsk
belgium|belgium belgian|brussels
bolivia|bolivia bolivian|la_paz
bosnia|bosnia bosnian|sarajevo
brazil|brazil brazilian|brasilia rio sao_paulo
bulgaria|bulgaria bulgarian|sofia
burma|burma myanmar burmese|yangon rangoon naypyidaw
cambodia|cambodia cambodian|phnom_penh
canada|canada canadian canadians|ottawa toronto montreal vancouver
chile|chile chilean|santiago
china|china chinese prc الصين|beijing shanghai hong_kong hk
colombia|colombia colombian|bogota
congo|congo congolese drc|kinshasa
croatia|croatia croatian|zagreb
cuba|cuba cuban cubans|havana
cyprus|cyprus cypriot|nicosia
czech|czech|prague
denmark|denmark danish|copenhagen
ecuador|ecuador ecuadorian|quito
egypt|egypt egyptian egyptians مصر|cairo alexandria sinai القاهره
estonia|estonia estonian|tallinn
ethiopia|ethiopia ethiopian|addis_ababa
finland|finland finnish|helsinki
france|france french فرنسا|paris marseille lyon باريس
germany|germany german germans المانيا|berlin munich frankfurt hamburg
ghana|ghana ghanaian|accra
greece|greece greek greeks|athens
haiti|haiti haitian|port_au_prince
hungary|hungary hungarian|budapest
india|india indian indians|delhi new_delhi mumbai bangalore kolkata chennai hyderabad kashmir
indonesia|indonesia indonesian|jakarta bali papua sumatra java
iran|iran iranian iranians ايران|tehran طهران
iraq|iraq iraqi iraqis العراق|baghdad basra mosul fallujah kirkuk بغداد الموصل
ireland|ireland irish|dublin
israel|israel israeli israelis اسرائيل|jerusalem tel_aviv القدس
italy|italy italian italians|rome milan naples
japan|japan japanese|tokyo osaka okinawa fukushima
jordan|jordanian الاردن|amman
kazakhstan|kazakhstan kazakh|astana almaty
kenya|kenya kenyan|nairobi mombasa
kuwait|kuwait kuwaiti الكويت|
lebanon|lebanon lebanese لبنان|beirut بيروت
libya|libya libyan libyans ليبيا|tripoli benghazi طرابلس بنغازي
malaysia|malaysia malaysian|kuala_lumpur kl
mali|mali malian|bamako timbuktu
mexico|mexico mexican mexicans|
morocco|morocco moroccan المغرب|rabat casablanca
nepal|nepal nepalese|kathmandu
netherlands|netherlands dutch holland|amsterdam hague
new_zealand|new_zealand nz|wellington auckland
nigeria|nigeria nigerian nigerians|abuja lagos
north_korea|north_korea n_korea dprk|pyongyang
norway|norway norwegian|oslo
pakistan|pakistan pakistani pakistanis pak|islamabad karachi lahore peshawar
palestine|palestine palestinian palestinians فلسطين|gaza ramallah west_bank غزه
peru|peru peruvian|lima
philippines|philippines philippine filipino|manila
poland|poland polish|warsaw
portugal|portugal portuguese|lisbon
qatar|qatar qatari قطر|doha الدوحه
romania|romania romanian|bucharest
russia|russia russian russians روسيا|moscow st_petersburg chechnya volgograd موسكو
saudi_arabia|saudi saudis saudi_arabia السعوديه|riyadh jeddah mecca الرياض
senegal|senegal senegalese|dakar
serbia|serbia serbian|belgrade
singapore|singapore singaporean|
somalia|somalia somali somalis الصومال|mogadishu
south_africa|south_africa|johannesburg pretoria cape_town
south_korea|south_korea s_korea|seoul
south_sudan|south_sudan|juba
spain|spain spanish|madrid barcelona
sri_lanka|sri_lanka lankan|colombo
sudan|sudan sudanese السودان|khartoum darfur الخرطوم
sweden|sweden swedish|stockholm
switzerland|switzerland swiss|geneva zurich bern
syria|syria syrian syrians سوريا سوريه|damascus aleppo homs idlib دمشق حلب حمص ادلب
taiwan|taiwan taiwanese|taipei
tajikistan|tajikistan tajik|dushanbe
thailand|thailand thai|bangkok
tunisia|tunisia tunisian تونس|tunis
turkey|turkish تركيا|ankara istanbul
uae|uae emirates emirati الامارات|dubai abu_dhabi
uganda|uganda ugandan|kampala
uk|uk britain british briton britons بريطانيا|london england scotland scottish wales glasgow لندن
ukraine|ukraine ukrainian ukrainians اوكرانيا|kiev kyiv crimea donetsk
us|us usa america american americans امريكا واشنطن|washington
venezuela|venezuela venezuelan|caracas
vietnam|vietnam vietnamese|hanoi
yemen|yemen yemeni اليمن|sanaa aden صنعاء عدن
zambia|zambia zambian|lusaka
zimbabwe|zimbabwe zimbabwean|harare
"""

# US states and cities: places of their own, inside the US.
_US = """alabama alaska arizona arkansas california colorado connecticut delaware florida hawaii
idaho illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan
minnesota mississippi missouri montana nebraska nevada new_hampshire new_jersey new_mexico
new_york north_carolina north_dakota ohio oklahoma oregon pennsylvania rhode_island
south_carolina south_dakota tennessee texas utah vermont virginia west_virginia wisconsin
wyoming puerto_rico chicago los_angeles boston detroit houston dallas miami seattle atlanta
philadelphia denver phoenix las_vegas baltimore new_orleans san_francisco"""


def _name(raw: str) -> str:
    """A table name as read lines spell it: folded; Arabic without its article."""
    folded = fold(raw)
    return strip_arabic(folded) if "\u0600" <= folded[0] <= "\u06ff" else folded


def _build() -> tuple[dict[str, str], dict[str, str]]:
    names: dict[str, str] = {}
    parent: dict[str, str] = {}
    for row in _TABLE.strip().splitlines():
        key, country, cities = row.split("|")
        for n in country.split():
            names[_name(n)] = key
        for c in cities.split():
            place = _name(c)
            names[place] = place
            parent[place] = key
    for c in _US.split():
        names[c] = c
        parent[c] = "us"
    return names, parent


_NAMES, _PARENT = _build()


def places(words: Sequence[str]) -> frozenset[str]:
    """The places named by a line's folded words (two-word names first), each as its most
    specific entry: "Aleppo, Syria" is Aleppo."""
    found: set[str] = set()
    i = 0
    while i < len(words):
        pair = f"{words[i]}_{words[i + 1]}" if i + 1 < len(words) else ""
        if pair in _NAMES:
            found.add(_NAMES[pair])
            i += 2
            continue
        if words[i] in _NAMES:
            found.add(_NAMES[words[i]])
        i += 1
    return frozenset(found - {_PARENT[p] for p in found if p in _PARENT})


def _within(inner: str, outer: str) -> bool:
    return inner == outer or _PARENT.get(inner) == outer


def places_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """True when each line names a place that is neither named by the other nor inside (or
    around) one the other names: the lines happen in different places."""
    if not a or not b or a <= b or b <= a:
        return False  # one names only places the other names (the same ones, most often)
    only_a = any(not any(_within(x, y) or _within(y, x) for y in b) for x in a)
    only_b = any(not any(_within(y, x) or _within(x, y) for x in a) for y in b)
    return only_a and only_b
