"""City styles: the layout, the naming vocabulary and the colours of a generated city.

A style is data, not code: :class:`CityStyle` holds a :class:`LayoutSpec` (street network shape),
a :class:`Naming` (street and landmark vocabularies), a :class:`Palette` (colours of the top-down map)
and a :class:`StreetLook` (everything about how the street views look: sky and time of day, road
and markings, facades, windows, building heights, signs). ``new_york`` is the training style (the paper trains on New York routes); the
other styles are unseen cities for the visual out-of-distribution setting.

To add a style, build a :class:`CityStyle` and pass it to :func:`virl_env.world.city.generate_city`, or
register it with :func:`register_style` so it can be named by a string.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = [
    "CityStyle",
    "LayoutSpec",
    "Naming",
    "Palette",
    "STYLES",
    "StreetLook",
    "STYLE_NAMES",
    "TRAINING_STYLE",
    "UNSEEN_STYLES",
    "get_style",
    "register_style",
]

Color = tuple[int, int, int]


@dataclass(frozen=True)
class LayoutSpec:
    """Shape of the street network.

    Attributes:
        kind: ``"grid"`` (lattice of straight streets, optionally jittered, rotated and with removed
            blocks) or ``"radial"`` (concentric rings crossed by spokes).
        rows, cols: Lattice size for ``grid`` (streets are rows and columns of nodes).
        row_spacing, col_spacing: Metres between lattice rows / columns (``grid``).
        spacing_variation: Relative random variation of each gap (0 = regular).
        jitter: Standard deviation in metres of the random displacement of each node.
        rotation: Rotation of the whole network in degrees (clockwise from north), plus a random
            extra rotation uniformly drawn in ``[-rotation_jitter, rotation_jitter]``.
        removal_rate: Fraction of inner street segments the generator tries to remove (only removed
            when both ends keep at least three streets and the network stays connected).
        rings, ring_spacing, spokes, secondary_from_ring: ``radial`` parameters (secondary spokes
            start at that ring between the primary ones; 0 disables them).
        stub_length: Length of the dead-end stubs that continue boundary streets.
    """

    kind: str = "grid"
    rows: int = 8
    cols: int = 8
    row_spacing: float = 100.0
    col_spacing: float = 100.0
    spacing_variation: float = 0.0
    jitter: float = 0.0
    rotation: float = 0.0
    rotation_jitter: float = 0.0
    removal_rate: float = 0.0
    rings: int = 5
    ring_spacing: float = 110.0
    spokes: int = 8
    secondary_from_ring: int = 0
    stub_length: float = 40.0


@dataclass(frozen=True)
class Naming:
    """Vocabularies for street and landmark names (ASCII only, so every name fits the text space).

    Attributes:
        row_pattern, col_pattern: Street-name patterns for grid rows / columns (rings / spokes in a
            radial layout). ``{word}`` takes a word from ``street_words``; ``{ordinal}`` a number
            such as ``23rd``.
        first_ordinal: Number of the first ordinal street.
        street_words: Words for street names.
        landmark_words: Proper names used in landmark names.
        landmark_kinds: ``(kind, templates)`` pairs; a template holds ``{word}``.
    """

    row_pattern: str
    col_pattern: str
    street_words: tuple[str, ...]
    landmark_words: tuple[str, ...]
    landmark_kinds: tuple[tuple[str, tuple[str, ...]], ...]
    first_ordinal: int = 1


@dataclass(frozen=True)
class Palette:
    """Colours (RGB) of a style for the top-down map and street views."""

    background: Color = (236, 232, 224)
    block: Color = (222, 216, 204)
    street: Color = (255, 255, 255)
    street_outline: Color = (190, 184, 172)
    landmark: Color = (70, 110, 170)
    label: Color = (30, 30, 30)
    sky: Color = (175, 205, 235)
    ground: Color = (120, 120, 120)
    facades: tuple[Color, ...] = ((180, 90, 70), (200, 180, 150), (150, 150, 160))


WINDOW_STYLES: tuple[str, ...] = ("grid", "tall", "bands", "pairs", "glass")
SIGN_SHAPES: tuple[str, ...] = ("board", "rounded", "awning", "neon", "banner")
MARKING_STYLES: tuple[str, ...] = ("dashed", "double", "solid", "none")
ROOF_STYLES: tuple[str, ...] = ("flat", "gable")


@dataclass(frozen=True)
class StreetLook:
    """How the street views of a style look (all colours RGB). Only appearance: changing a look
    never changes the city, the routes or the task.

    Attributes:
        time_of_day: A label (``"day"``, ``"dusk"``, ``"night"``, ``"overcast"``, ...) for captions.
        sky_top, sky_horizon: Sky gradient colours.
        haze, haze_distance: Colour that distant things fade to, and the distance in metres at
            which they are 63% faded (large = clear air).
        light: Brightness multiplier of facades and ground (1 = full daylight).
        sun_azimuth: Compass bearing the light comes from (facades facing it are brighter).
        ground, road, curb: Colours of the pavement (sidewalks, plazas), the roadway and the curb.
        road_half_width: Half the roadway width in metres (sidewalks run from there to the facades).
        marking, marking_style: Road centre-line colour and style (:data:`MARKING_STYLES`).
        crosswalks: Whether zebra crossings are painted at intersections.
        facades: Facade colours buildings draw from.
        trim: Colour of window frames, cornices and doors.
        window, window_lit, lit_fraction: Glass colour, lit-window colour and the fraction of
            windows that are lit (night scenes).
        window_style: One of :data:`WINDOW_STYLES`.
        floors: ``(min, max)`` storeys of a building; ``floor_height`` metres per storey.
        building_width: ``(min, max)`` facade width of one building in metres.
        sign_shape: One of :data:`SIGN_SHAPES`.
        sign_colors: Sign board colours (each landmark gets one, by kind).
        sign_text: Sign lettering colour; ``sign_border``: board outline colour.
        sign_case: ``"upper"`` or ``"title"`` lettering.
        sign_scale: Size of the signs relative to the default (1.0).
        road_width_variation: Each street's roadway half width is ``road_half_width`` times a
            factor drawn from ``[1 - v, 1 + v]`` (kept 1.5 m clear of the facades), so sidewalks
            vary too.
        building_setback: ``(min, max)`` extra metres each building stands back from its street's
            building line (forecourts; the steps show as side walls).
        building_gap: Chance that a building is followed by an open gap (a passage or lot).
        tower_chance, tower_floors: Chance that a building is a tower, and its storeys.
        roof: ``"flat"`` or ``"gable"`` (a pointed gable on every street front).
        tree_spacing, tree_height, tree_color: Street trees on the sidewalks every ``tree_spacing``
            metres (0 = none), their height range and canopy colour.
        lamp_spacing, lamp_color: Street lamps every ``lamp_spacing`` metres (0 = none).
        parked_cars, car_colors: Fraction of curb parking slots holding a parked car, their colours.
        eye_height, fov: ``(min, max)`` camera height in metres and horizontal field of view in
            degrees; each city draws its camera from these ranges (seeded by the city seed).

    The geometry fields (from ``road_width_variation`` on) default to the training city's plain
    street canyon; they change only the pictures, never the city, its routes or its texts.
    """

    time_of_day: str = "day"
    sky_top: Color = (96, 150, 215)
    sky_horizon: Color = (200, 222, 240)
    haze: Color = (205, 215, 225)
    haze_distance: float = 260.0
    light: float = 1.0
    sun_azimuth: float = 135.0
    ground: Color = (170, 168, 162)
    road: Color = (78, 80, 84)
    curb: Color = (200, 198, 190)
    road_half_width: float = 5.5
    marking: Color = (240, 240, 235)
    marking_style: str = "dashed"
    crosswalks: bool = True
    facades: tuple[Color, ...] = ((150, 75, 60), (175, 160, 140), (110, 110, 120))
    trim: Color = (60, 55, 50)
    window: Color = (70, 90, 110)
    window_lit: Color = (255, 214, 120)
    lit_fraction: float = 0.0
    window_style: str = "grid"
    floors: tuple[int, int] = (3, 6)
    floor_height: float = 3.2
    building_width: tuple[float, float] = (10.0, 22.0)
    sign_shape: str = "board"
    sign_colors: tuple[Color, ...] = ((200, 40, 40), (30, 90, 170), (20, 120, 60))
    sign_text: Color = (255, 255, 255)
    sign_border: Color = (30, 30, 30)
    sign_case: str = "title"
    sign_scale: float = 1.0
    road_width_variation: float = 0.0
    building_setback: tuple[float, float] = (0.0, 0.0)
    building_gap: float = 0.0
    tower_chance: float = 0.0
    tower_floors: tuple[int, int] = (12, 20)
    roof: str = "flat"
    tree_spacing: float = 0.0
    tree_height: tuple[float, float] = (5.0, 8.0)
    tree_color: Color = (70, 110, 55)
    lamp_spacing: float = 0.0
    lamp_color: Color = (40, 42, 46)
    parked_cars: float = 0.0
    car_colors: tuple[Color, ...] = ((180, 30, 30), (230, 230, 230), (30, 30, 35), (40, 70, 140), (150, 150, 155))
    eye_height: tuple[float, float] = (2.2, 2.2)
    fov: tuple[float, float] = (90.0, 90.0)

    def __post_init__(self) -> None:
        if self.window_style not in WINDOW_STYLES:
            raise ValueError(f"window_style must be one of {WINDOW_STYLES}, got {self.window_style!r}")
        if self.sign_shape not in SIGN_SHAPES:
            raise ValueError(f"sign_shape must be one of {SIGN_SHAPES}, got {self.sign_shape!r}")
        if self.marking_style not in MARKING_STYLES:
            raise ValueError(f"marking_style must be one of {MARKING_STYLES}, got {self.marking_style!r}")
        if self.sign_case not in ("upper", "title"):
            raise ValueError(f"sign_case must be 'upper' or 'title', got {self.sign_case!r}")
        if not self.facades or not self.sign_colors:
            raise ValueError("facades and sign_colors need at least one colour each")
        lo, hi = self.floors
        if not 1 <= lo <= hi <= 40:
            raise ValueError(f"floors must be (min, max) with 1 <= min <= max <= 40, got {self.floors}")
        wlo, whi = self.building_width
        if not 4.0 <= wlo <= whi <= 80.0:
            raise ValueError(f"building_width must be (min, max) in [4, 80] m, got {self.building_width}")
        for name in ("haze_distance", "floor_height", "road_half_width", "light", "sign_scale"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0 or value != value or value == float("inf"):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if not 0.0 <= self.lit_fraction <= 1.0:
            raise ValueError(f"lit_fraction must be in [0, 1], got {self.lit_fraction}")
        if self.roof not in ROOF_STYLES:
            raise ValueError(f"roof must be one of {ROOF_STYLES}, got {self.roof!r}")
        for name in ("road_width_variation", "building_gap", "tower_chance", "parked_cars"):
            if not 0.0 <= getattr(self, name) <= (0.6 if name == "road_width_variation" else 1.0):
                raise ValueError(f"{name} must be a fraction in [0, 1] (road_width_variation <= 0.6), "
                                 f"got {getattr(self, name)!r}")
        for name, low, high in (("building_setback", 0.0, 20.0), ("tower_floors", 1, 60),
                                ("tree_height", 1.0, 30.0), ("eye_height", 0.5, 20.0), ("fov", 40.0, 120.0)):
            lo, hi = getattr(self, name)
            if not low <= lo <= hi <= high:
                raise ValueError(f"{name} must be (min, max) with {low} <= min <= max <= {high}, "
                                 f"got {getattr(self, name)}")
        for name in ("tree_spacing", "lamp_spacing"):
            value = getattr(self, name)
            if value != 0 and not 4.0 <= value <= 200.0:
                raise ValueError(f"{name} must be 0 (none) or in [4, 200] metres, got {value!r}")
        if not self.car_colors:
            raise ValueError("car_colors needs at least one colour")

    def replace(self, **changes: object) -> StreetLook:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class CityStyle:
    """A named city style: layout, naming, palette, street look and landmark density.

    Two styles with the same name, layout, naming, landmark density and setback generate the same
    city (same streets, landmarks and routes); ``palette`` and ``look`` change only how it looks.
    """

    name: str
    description: str
    layout: LayoutSpec
    naming: Naming
    palette: Palette = field(default_factory=Palette)
    landmark_density: float = 0.35
    setback: float = 10.0
    look: StreetLook = field(default_factory=StreetLook)

    def replace(self, **changes: object) -> CityStyle:
        """A copy with some fields changed, e.g. ``style.replace(look=night_look)``."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _kinds(*pairs: tuple[str, tuple[str, ...]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(pairs)


_NEW_YORK = CityStyle(
    name="new_york",
    description="Manhattan-like grid rotated 29 degrees: long avenue blocks, short street blocks",
    layout=LayoutSpec(kind="grid", rows=12, cols=5, row_spacing=80.0, col_spacing=260.0,
                      rotation=29.0, stub_length=40.0),
    naming=Naming(
        row_pattern="W {ordinal} St",
        col_pattern="{ordinal} Ave",
        first_ordinal=20,
        street_words=("Madison", "Lexington", "Park", "Columbus", "Amsterdam", "Broadway"),
        landmark_words=("Hudson", "Empire", "Liberty", "Bowery", "Astor", "Gotham", "Brooklyn",
                        "Madison", "Delancey", "Knickerbocker", "Chelsea", "Harlem", "Soho",
                        "Tribeca", "Union", "Gramercy", "Battery", "Bleecker", "Carnegie",
                        "Flatiron", "Greenwich", "Mercer", "Orchard", "Prince", "Rivington",
                        "Stanton", "Vesey", "Waverly", "Yorkville", "Lenox", "Murray", "Tudor",
                        "Sutton", "Pearl", "Canal", "Houston", "Spring", "Varick", "Essex", "Irving"),
        landmark_kinds=_kinds(
            ("cafe", ("{word} Coffee", "Cafe {word}")),
            ("pizzeria", ("{word} Pizza", "{word} Slice")),
            ("deli", ("{word} Deli", "{word} Bagels")),
            ("bank", ("{word} Savings Bank", "{word} Trust")),
            ("pharmacy", ("{word} Pharmacy", "{word} Drugs")),
            ("hotel", ("Hotel {word}", "The {word} Hotel")),
            ("bar", ("{word} Tavern", "{word} Ale House")),
            ("bookstore", ("{word} Books",)),
            ("theater", ("{word} Theater",)),
            ("gym", ("{word} Fitness",)),
            ("market", ("{word} Market",)),
            ("diner", ("{word} Diner",)),
        ),
    ),
    palette=Palette(background=(233, 229, 220), block=(214, 208, 196), street=(250, 250, 250),
                    street_outline=(170, 164, 152), landmark=(200, 70, 50),
                    facades=((150, 75, 60), (175, 160, 140), (110, 110, 120), (190, 120, 80))),
    landmark_density=0.3,
)

_PARIS = CityStyle(
    name="paris",
    description="radial: boulevards in rings crossed by avenues from a central place",
    layout=LayoutSpec(kind="radial", rings=5, ring_spacing=105.0, spokes=8, secondary_from_ring=2,
                      jitter=4.0, rotation_jitter=20.0),
    naming=Naming(
        row_pattern="Boulevard {word}",
        col_pattern="Avenue {word}",
        street_words=("Haussmann", "Voltaire", "Rivoli", "Montaigne", "Victor Hugo", "Foch",
                      "Saint-Michel", "Raspail", "Magenta", "Kleber", "Wagram", "Marceau",
                      "Iena", "Friedland", "Mozart", "Niel", "Bosquet", "Suffren", "Duquesne",
                      "Mac-Mahon", "Carnot", "Hoche", "Malesherbes", "Sebastopol"),
        landmark_words=("Flore", "Lumiere", "Marais", "Colette", "Rosalie", "Montmartre", "Seine",
                        "Opera", "Louvre", "Bastille", "Lilas", "Etoile", "Margaux", "Celeste",
                        "Mirabeau", "Chantal", "Odeon", "Pigalle", "Vendome", "Tuileries",
                        "Batignolles", "Madeleine", "Pantheon", "Trocadero", "Sorbonne",
                        "Belleville", "Monceau", "Vaugirard", "Passy", "Auteuil"),
        landmark_kinds=_kinds(
            ("cafe", ("Cafe {word}", "Cafe de {word}")),
            ("bakery", ("Boulangerie {word}",)),
            ("pharmacy", ("Pharmacie {word}",)),
            ("bistro", ("Bistro {word}", "Brasserie {word}")),
            ("bookstore", ("Librairie {word}",)),
            ("hotel", ("Hotel {word}",)),
            ("bank", ("Banque {word}",)),
            ("florist", ("Fleurs {word}",)),
            ("cinema", ("Cinema {word}",)),
            ("cheese shop", ("Fromagerie {word}",)),
        ),
    ),
    palette=Palette(background=(238, 232, 215), block=(224, 214, 190), street=(252, 250, 244),
                    street_outline=(180, 168, 140), landmark=(40, 80, 140),
                    facades=((225, 215, 190), (210, 200, 175), (200, 190, 170))),
)

_LONDON = CityStyle(
    name="london",
    description="organic: irregular lattice of crooked streets with many missing blocks",
    layout=LayoutSpec(kind="grid", rows=9, cols=9, row_spacing=105.0, col_spacing=110.0,
                      spacing_variation=0.2, jitter=16.0, rotation_jitter=45.0, removal_rate=0.22),
    naming=Naming(
        row_pattern="{word} Street",
        col_pattern="{word} Road",
        street_words=("Baker", "Fleet", "Oxford", "Regent", "Bond", "Tooley", "Carnaby",
                      "Kings", "Gower", "Judd", "Cleveland", "Portobello", "Abbey", "Camden",
                      "Marylebone", "Holloway", "Caledonian", "Euston", "Goswell", "Essex",
                      "Drury", "Jermyn", "Savile", "Wardour"),
        landmark_words=("Crown", "Anchor", "Lion", "Swan", "Rose", "Thistle", "Oak", "Falcon",
                        "Bishop", "Kings", "Albion", "Victoria", "Windsor", "Tudor", "Hawthorn",
                        "Mayfair", "Camden", "Hampstead", "Islington", "Brixton", "Dalston",
                        "Hackney", "Soho", "Chelsea", "Fulham", "Peckham", "Bermondsey",
                        "Wapping", "Clerkenwell", "Barnsbury"),
        landmark_kinds=_kinds(
            ("pub", ("The {word} Arms", "The {word} Inn")),
            ("cafe", ("{word} Cafe",)),
            ("bank", ("{word} Bank",)),
            ("chemist", ("{word} Chemist",)),
            ("bookshop", ("{word} Books",)),
            ("hotel", ("The {word} Hotel",)),
            ("grocer", ("{word} Grocers",)),
            ("bakery", ("{word} Bakery",)),
            ("launderette", ("{word} Launderette",)),
            ("post office", ("{word} Post Office",)),
        ),
    ),
    palette=Palette(background=(226, 226, 222), block=(205, 200, 196), street=(245, 245, 240),
                    street_outline=(150, 150, 150), landmark=(160, 30, 40),
                    facades=((140, 60, 50), (120, 110, 100), (200, 195, 185))),
)

_TOKYO = CityStyle(
    name="tokyo",
    description="dense irregular grid of short blocks",
    layout=LayoutSpec(kind="grid", rows=13, cols=11, row_spacing=70.0, col_spacing=80.0,
                      spacing_variation=0.1, jitter=5.0, rotation=-10.0, rotation_jitter=10.0,
                      removal_rate=0.12),
    naming=Naming(
        row_pattern="{word}-dori",
        col_pattern="{word}-michi",
        street_words=("Chuo", "Meiji", "Yasukuni", "Omotesando", "Aoyama", "Kototoi", "Kasuga",
                      "Hakusan", "Sakura", "Kiyosumi", "Showa", "Eitai", "Harumi", "Shinjuku",
                      "Gaien", "Kanda", "Ginza", "Nihonbashi", "Ueno", "Asakusa", "Akasaka",
                      "Roppongi", "Ebisu", "Meguro", "Shibuya", "Ikebukuro"),
        landmark_words=("Sakura", "Fuji", "Kaze", "Hoshi", "Tsuki", "Midori", "Hikari", "Sora",
                        "Yama", "Kawa", "Momiji", "Ume", "Take", "Matsu", "Kiku", "Hana", "Umi",
                        "Kumo", "Yuki", "Haru", "Natsu", "Aki", "Fuyu", "Asahi", "Kotobuki",
                        "Daikoku", "Ebisu", "Tanuki", "Kitsune", "Tora"),
        landmark_kinds=_kinds(
            ("ramen shop", ("{word} Ramen",)),
            ("sushi bar", ("{word} Sushi",)),
            ("convenience store", ("{word} Mart",)),
            ("cafe", ("Kissa {word}", "{word} Coffee")),
            ("izakaya", ("Izakaya {word}",)),
            ("bookstore", ("{word} Shoten",)),
            ("pharmacy", ("{word} Drugstore",)),
            ("hotel", ("Hotel {word}",)),
            ("bank", ("{word} Bank",)),
            ("bathhouse", ("{word} Sento",)),
            ("karaoke", ("Karaoke {word}",)),
        ),
    ),
    palette=Palette(background=(232, 234, 236), block=(210, 214, 220), street=(248, 248, 250),
                    street_outline=(160, 166, 175), landmark=(210, 40, 90),
                    facades=((200, 200, 205), (170, 175, 185), (230, 225, 215))),
    landmark_density=0.4,
)

_BARCELONA = CityStyle(
    name="barcelona",
    description="square grid of equal blocks set diagonally to the compass (Eixample-like)",
    layout=LayoutSpec(kind="grid", rows=8, cols=8, row_spacing=113.0, col_spacing=113.0,
                      rotation=45.0),
    naming=Naming(
        row_pattern="Carrer de {word}",
        col_pattern="Carrer d'{word}",
        street_words=("Arago", "Mallorca", "Valencia", "Provenca", "Consell", "Diputacio",
                      "Girona", "Bailen", "Balmes", "Muntaner", "Aribau", "Casanova", "Urgell",
                      "Borrell", "Villarroel", "Enric", "Roger", "Pau Claris", "Llull", "Sicilia"),
        landmark_words=("Gaudi", "Sagrada", "Montjuic", "Ramblas", "Gracia", "Born", "Raval",
                        "Barceloneta", "Tibidabo", "Miro", "Picasso", "Catalunya", "Mercat",
                        "Lluna", "Sol", "Mar", "Tapas", "Olivera", "Taronja", "Marina", "Verdaguer",
                        "Sants", "Poblenou", "Sarria", "Pedralbes", "Horta", "Clot", "Fort",
                        "Sitges", "Palau"),
        landmark_kinds=_kinds(
            ("tapas bar", ("Bar {word}", "Tapes {word}")),
            ("bakery", ("Forn {word}",)),
            ("pharmacy", ("Farmacia {word}",)),
            ("restaurant", ("Restaurant {word}",)),
            ("bookstore", ("Llibreria {word}",)),
            ("hotel", ("Hotel {word}",)),
            ("bank", ("Banc {word}",)),
            ("market", ("Mercat {word}",)),
            ("gelateria", ("Gelats {word}",)),
            ("florist", ("Floristeria {word}",)),
        ),
    ),
    palette=Palette(background=(240, 230, 210), block=(226, 206, 170), street=(250, 246, 236),
                    street_outline=(190, 160, 120), landmark=(220, 120, 20),
                    facades=((230, 205, 160), (215, 185, 140), (240, 225, 190))),
)

_ROME = CityStyle(
    name="rome",
    description="organic old town: strongly irregular lattice with many missing streets",
    layout=LayoutSpec(kind="grid", rows=9, cols=9, row_spacing=100.0, col_spacing=100.0,
                      spacing_variation=0.2, jitter=13.0, rotation_jitter=90.0,
                      removal_rate=0.28),
    naming=Naming(
        row_pattern="Via {word}",
        col_pattern="Vicolo {word}",
        street_words=("del Corso", "Giulia", "Veneto", "Appia", "Nazionale", "Condotti",
                      "Cavour", "Merulana", "Margutta", "Frattina", "Babuino", "Ripetta",
                      "Coronari", "Governo Vecchio", "Pellegrino", "Banchi", "Monserrato",
                      "Arenula", "Labicana", "Sistina", "Quattro Fontane", "Panisperna"),
        landmark_words=("Romano", "Trevi", "Navona", "Aurelia", "Flavia", "Giulia", "Claudia",
                        "Tevere", "Colosseo", "Palatino", "Trastevere", "Monti", "Testaccio",
                        "Pantheon", "Campo", "Fiori", "Borghese", "Medici", "Farnese", "Spada",
                        "Doria", "Sole", "Luna", "Stella", "Roma", "Vesta", "Giano", "Marte",
                        "Minerva", "Apollo"),
        landmark_kinds=_kinds(
            ("trattoria", ("Trattoria {word}", "Osteria {word}")),
            ("cafe", ("Caffe {word}", "Bar {word}")),
            ("gelateria", ("Gelateria {word}",)),
            ("pharmacy", ("Farmacia {word}",)),
            ("pizzeria", ("Pizzeria {word}",)),
            ("bookstore", ("Libreria {word}",)),
            ("hotel", ("Albergo {word}",)),
            ("bank", ("Banca {word}",)),
            ("church", ("Chiesa di {word}",)),
            ("bakery", ("Forno {word}",)),
        ),
    ),
    palette=Palette(background=(238, 224, 200), block=(218, 180, 140), street=(248, 240, 225),
                    street_outline=(170, 130, 90), landmark=(140, 60, 20),
                    facades=((210, 140, 90), (225, 175, 110), (190, 110, 70))),
)

_AMSTERDAM = CityStyle(
    name="amsterdam",
    description="radial canal-ring city: many rings, many spokes",
    layout=LayoutSpec(kind="radial", rings=6, ring_spacing=85.0, spokes=10, secondary_from_ring=3,
                      jitter=5.0, rotation_jitter=18.0),
    naming=Naming(
        row_pattern="{word}gracht",
        col_pattern="{word}straat",
        street_words=("Heren", "Keizers", "Prinsen", "Singel", "Brouwers", "Lauriers", "Egelantiers",
                      "Bloem", "Rozen", "Leidse", "Utrechtse", "Vijzel", "Spiegel", "Reguliers",
                      "Haarlemmer", "Raad", "Beren", "Wolven", "Hartens", "Runstraat", "Hazen",
                      "Looiers", "Passeerders", "Kerk"),
        landmark_words=("Tulp", "Molen", "Gracht", "Fiets", "Kaas", "Haven", "Anker", "Zon",
                        "Maan", "Ster", "Vos", "Beer", "Leeuw", "Zwaan", "Eend", "Rembrandt",
                        "Vondel", "Jordaan", "Dam", "Amstel", "Oranje", "Hollandia", "Noord",
                        "Zuid", "Oost", "West", "Pijp", "Plantage", "Zeeburg", "Sloten"),
        landmark_kinds=_kinds(
            ("brown cafe", ("Cafe {word}", "Proeflokaal {word}")),
            ("bakery", ("Bakkerij {word}",)),
            ("pharmacy", ("Apotheek {word}",)),
            ("bike shop", ("Fietsen {word}",)),
            ("cheese shop", ("Kaashuis {word}",)),
            ("bookstore", ("Boekhandel {word}",)),
            ("hotel", ("Hotel {word}",)),
            ("bank", ("Bank {word}",)),
            ("restaurant", ("Eetcafe {word}",)),
            ("florist", ("Bloemen {word}",)),
        ),
    ),
    palette=Palette(background=(222, 232, 236), block=(196, 170, 150), street=(246, 244, 240),
                    street_outline=(110, 140, 160), landmark=(230, 110, 20),
                    facades=((120, 50, 40), (90, 60, 50), (160, 90, 60))),
)

_MUMBAI = CityStyle(
    name="mumbai",
    description="irregular grid of wide and narrow blocks",
    layout=LayoutSpec(kind="grid", rows=10, cols=8, row_spacing=80.0, col_spacing=120.0,
                      spacing_variation=0.2, jitter=7.0, rotation=15.0, rotation_jitter=20.0,
                      removal_rate=0.15),
    naming=Naming(
        row_pattern="{word} Marg",
        col_pattern="{word} Road",
        street_words=("Tilak", "Gandhi", "Nehru", "Patel", "Azad", "Tagore", "Shivaji", "Ambedkar",
                      "Linking", "Station", "Hill", "Carter", "Turner", "Pali", "Waterfield",
                      "Warden", "Peddar", "Napean", "Colaba", "Marine", "Lamington", "Grant"),
        landmark_words=("Ganesh", "Lakshmi", "Saraswati", "Krishna", "Shanti", "Anand", "Royal",
                        "Sagar", "Kamal", "Ashoka", "Gateway", "Bandra", "Juhu", "Worli", "Dadar",
                        "Colaba", "Fort", "Matunga", "Sion", "Andheri", "Powai", "Marine",
                        "Chowpatty", "Kala", "Moti", "Heera", "Suraj", "Chand", "Tara", "Megha"),
        landmark_kinds=_kinds(
            ("restaurant", ("{word} Bhavan", "{word} Dhaba")),
            ("tea stall", ("{word} Chai",)),
            ("sweet shop", ("{word} Sweets",)),
            ("pharmacy", ("{word} Medicals",)),
            ("tailor", ("{word} Tailors",)),
            ("jeweller", ("{word} Jewellers",)),
            ("hotel", ("Hotel {word}",)),
            ("bank", ("{word} Cooperative Bank",)),
            ("cinema", ("{word} Talkies",)),
            ("grocer", ("{word} Provision Store",)),
        ),
    ),
    palette=Palette(background=(240, 226, 200), block=(220, 196, 160), street=(245, 240, 230),
                    street_outline=(160, 130, 100), landmark=(20, 140, 110),
                    facades=((230, 190, 120), (200, 90, 80), (120, 170, 160))),
    landmark_density=0.4,
)

_SYDNEY = CityStyle(
    name="sydney",
    description="grid of uneven blocks: varied spacing, a few missing segments",
    layout=LayoutSpec(kind="grid", rows=9, cols=7, row_spacing=95.0, col_spacing=140.0,
                      spacing_variation=0.35, jitter=3.0, rotation=-20.0, rotation_jitter=8.0,
                      removal_rate=0.08),
    naming=Naming(
        row_pattern="{word} Terrace",
        col_pattern="{word} Parade",
        street_words=("George", "Pitt", "Elizabeth", "Macquarie", "Kent", "Sussex", "Clarence",
                      "York", "Hunter", "Bridge", "Bathurst", "Liverpool", "Oxford", "Crown",
                      "Bourke", "Riley", "Harris", "Pyrmont", "Glebe", "Parramatta"),
        landmark_words=("Harbour", "Wattle", "Banksia", "Coral", "Bondi", "Manly", "Coogee",
                        "Waratah", "Jacaranda", "Kookaburra", "Wombat", "Koala", "Southern",
                        "Opal", "Ocean", "Surf", "Sunset", "Outback", "Eucalypt", "Boronia",
                        "Darling", "Rocks", "Circular", "Barangaroo", "Paddington", "Newtown",
                        "Balmain", "Mosman", "Redfern", "Ultimo"),
        landmark_kinds=_kinds(
            ("cafe", ("{word} Espresso", "{word} Cafe")),
            ("pub", ("{word} Hotel",)),
            ("bakery", ("{word} Bakehouse",)),
            ("chemist", ("{word} Chemist",)),
            ("surf shop", ("{word} Surf Co",)),
            ("bookshop", ("{word} Books",)),
            ("bank", ("{word} Bank",)),
            ("fish shop", ("{word} Fish and Chips",)),
            ("gallery", ("{word} Gallery",)),
            ("bottle shop", ("{word} Cellars",)),
        ),
    ),
    palette=Palette(background=(230, 238, 232), block=(200, 215, 200), street=(250, 250, 248),
                    street_outline=(140, 160, 150), landmark=(0, 110, 170),
                    facades=((235, 230, 220), (190, 170, 140), (120, 140, 150))),
)

_CAIRO = CityStyle(
    name="cairo",
    description="organic old quarter: crooked lattice with many dead ends removed",
    layout=LayoutSpec(kind="grid", rows=10, cols=10, row_spacing=90.0, col_spacing=95.0,
                      spacing_variation=0.2, jitter=10.0, rotation_jitter=60.0,
                      removal_rate=0.3),
    naming=Naming(
        row_pattern="Sharia {word}",
        col_pattern="Darb {word}",
        street_words=("al-Muizz", "Qasr al-Nil", "Talaat Harb", "Mohamed Ali", "al-Azhar",
                      "Port Said", "Ramses", "Champollion", "Sherif", "Adly", "Abdel Khalek",
                      "Emad el-Din", "Gawhar", "Khan", "Bab Zuweila", "al-Ahmar", "Sabri Abu Alam",
                      "Hoda Shaarawi", "Mahmoud Bassiouni", "Huda"),
        landmark_words=("Nile", "Pharaoh", "Sphinx", "Lotus", "Oasis", "Sahara", "Nefertiti",
                        "Horus", "Isis", "Amun", "Luxor", "Aswan", "Giza", "Khan", "Zamalek",
                        "Garden City", "Heliopolis", "Maadi", "Fatimid", "Mamluk", "Saladin",
                        "Citadel", "Crescent", "Palm", "Date", "Jasmine", "Papyrus", "Scarab",
                        "Obelisk", "Delta"),
        landmark_kinds=_kinds(
            ("coffee house", ("Ahwa {word}", "{word} Coffee House")),
            ("bakery", ("{word} Bakery",)),
            ("pharmacy", ("{word} Pharmacy",)),
            ("spice shop", ("{word} Spices",)),
            ("restaurant", ("{word} Koshary", "{word} Grill")),
            ("bookstore", ("{word} Bookshop",)),
            ("hotel", ("{word} Hotel",)),
            ("bank", ("{word} Bank",)),
            ("perfumer", ("{word} Perfumes",)),
            ("juice bar", ("{word} Juice",)),
        ),
    ),
    palette=Palette(background=(240, 228, 200), block=(222, 200, 160), street=(246, 238, 218),
                    street_outline=(180, 150, 100), landmark=(30, 100, 150),
                    facades=((220, 195, 150), (200, 170, 120), (180, 150, 110))),
)

_MOSCOW = CityStyle(
    name="moscow",
    description="radial-concentric city with few spokes and wide rings",
    layout=LayoutSpec(kind="radial", rings=5, ring_spacing=120.0, spokes=7, secondary_from_ring=2,
                      jitter=6.0, rotation_jitter=25.0),
    naming=Naming(
        row_pattern="{word} Ring",
        col_pattern="{word} Prospekt",
        street_words=("Garden", "Boulevard", "Tverskoy", "Nikitsky", "Pokrovsky", "Leninsky",
                      "Mira", "Kutuzovsky", "Arbat", "Tverskaya", "Myasnitskaya", "Pyatnitskaya",
                      "Ordynka", "Varvarka", "Ilyinka", "Petrovka", "Neglinnaya", "Sretenka",
                      "Pokrovka", "Lubyanka"),
        landmark_words=("Sokol", "Zvezda", "Rossiya", "Neva", "Volga", "Berezka", "Sever",
                        "Yug", "Vostok", "Zapad", "Kristall", "Rubin", "Almaz", "Metropol",
                        "Arbat", "Kremlin", "Sputnik", "Salyut", "Mir", "Vesna", "Leto", "Osen",
                        "Zima", "Raduga", "Druzhba", "Aurora", "Kosmos", "Orbita", "Polyot",
                        "Yantar"),
        landmark_kinds=_kinds(
            ("cafe", ("Kafe {word}",)),
            ("bakery", ("Bulochnaya {word}",)),
            ("pharmacy", ("Apteka {word}",)),
            ("restaurant", ("Restoran {word}", "Stolovaya {word}")),
            ("bookstore", ("Knigi {word}",)),
            ("hotel", ("Gostinitsa {word}",)),
            ("bank", ("Bank {word}",)),
            ("grocery", ("Gastronom {word}",)),
            ("theater", ("Teatr {word}",)),
            ("cinema", ("Kinoteatr {word}",)),
        ),
    ),
    palette=Palette(background=(230, 228, 232), block=(206, 196, 200), street=(248, 246, 246),
                    street_outline=(150, 140, 150), landmark=(180, 20, 30),
                    facades=((200, 170, 120), (170, 60, 50), (220, 220, 210))),
)

_LOOKS: dict[str, StreetLook] = {
    # Training city: clear day, brick and brownstone, tall blocks, double yellow line, bold boards.
    "new_york": StreetLook(
        time_of_day="day", sky_top=(70, 130, 210), sky_horizon=(190, 215, 240), haze=(200, 212, 228),
        haze_distance=280.0, light=1.0, sun_azimuth=150.0, ground=(168, 166, 160), road=(62, 64, 68),
        curb=(190, 188, 182), road_half_width=6.0, marking=(235, 190, 40), marking_style="double",
        facades=((150, 75, 60), (175, 160, 140), (110, 110, 120), (190, 120, 80), (125, 70, 55)),
        trim=(55, 45, 40), window=(60, 75, 95), window_style="grid", floors=(5, 14),
        building_width=(12.0, 24.0), sign_shape="board",
        sign_colors=((190, 30, 35), (25, 70, 150), (15, 110, 60), (25, 25, 25), (120, 30, 110)),
        sign_text=(255, 255, 255), sign_border=(20, 20, 20), sign_case="upper"),
    "paris": StreetLook(
        time_of_day="morning", sky_top=(130, 170, 220), sky_horizon=(225, 232, 240), haze=(220, 225, 232),
        haze_distance=240.0, light=0.98, sun_azimuth=110.0, ground=(196, 190, 176), road=(92, 94, 100),
        curb=(215, 210, 198), road_half_width=6.0, marking=(245, 245, 245), marking_style="dashed",
        facades=((228, 218, 192), (214, 203, 178), (203, 192, 170)), trim=(90, 95, 105),
        window=(80, 92, 110), window_style="tall", floors=(5, 7), floor_height=3.4,
        building_width=(14.0, 22.0), sign_shape="awning",
        sign_colors=((25, 70, 50), (110, 25, 40), (30, 40, 80)), sign_text=(235, 205, 125),
        sign_border=(40, 35, 30), sign_case="title"),
    "london": StreetLook(
        time_of_day="overcast", sky_top=(168, 173, 180), sky_horizon=(214, 216, 220), haze=(200, 202, 206),
        haze_distance=140.0, light=0.88, sun_azimuth=200.0, ground=(160, 160, 158), road=(70, 72, 76),
        curb=(185, 185, 182), road_half_width=5.0, marking=(235, 235, 235), marking_style="dashed",
        facades=((232, 228, 218), (240, 236, 226), (140, 60, 50), (222, 218, 206)), trim=(40, 40, 44),
        window=(45, 50, 58), window_style="pairs", floors=(3, 5), floor_height=3.3,
        building_width=(8.0, 14.0), sign_shape="board",
        sign_colors=((22, 22, 22), (25, 55, 38), (85, 20, 30)), sign_text=(228, 192, 92),
        sign_border=(200, 170, 80), sign_case="upper"),
    "tokyo": StreetLook(
        time_of_day="night", sky_top=(8, 10, 28), sky_horizon=(48, 40, 82), haze=(40, 36, 70),
        haze_distance=200.0, light=0.42, sun_azimuth=0.0, ground=(82, 80, 88), road=(38, 38, 44),
        curb=(110, 110, 118), road_half_width=4.5, marking=(230, 230, 230), marking_style="solid",
        facades=((200, 200, 205), (170, 175, 185), (230, 225, 215), (150, 160, 175)), trim=(60, 60, 70),
        window=(30, 34, 50), window_lit=(255, 236, 190), lit_fraction=0.65, window_style="bands",
        floors=(4, 10), floor_height=3.0, building_width=(7.0, 13.0), sign_shape="neon",
        sign_colors=((255, 60, 160), (60, 220, 255), (255, 230, 60), (120, 255, 120)),
        sign_text=(255, 255, 255), sign_border=(18, 16, 26), sign_case="title"),
    "barcelona": StreetLook(
        time_of_day="noon", sky_top=(30, 105, 215), sky_horizon=(170, 205, 240), haze=(200, 215, 235),
        haze_distance=320.0, light=1.0, sun_azimuth=180.0, ground=(205, 190, 160), road=(96, 96, 98),
        curb=(225, 215, 195), road_half_width=6.5, marking=(245, 245, 240), marking_style="dashed",
        facades=((232, 206, 160), (216, 184, 138), (242, 226, 190), (205, 170, 130)), trim=(120, 80, 50),
        window=(70, 60, 55), window_style="tall", floors=(5, 7), floor_height=3.5,
        building_width=(12.0, 20.0), sign_shape="rounded",
        sign_colors=((180, 85, 15), (0, 120, 120), (200, 40, 60)), sign_text=(255, 255, 255),
        sign_border=(255, 250, 240), sign_case="title"),
    "rome": StreetLook(
        time_of_day="dusk", sky_top=(70, 62, 125), sky_horizon=(250, 168, 108), haze=(236, 170, 130),
        haze_distance=200.0, light=0.82, sun_azimuth=260.0, ground=(160, 140, 120), road=(104, 94, 84),
        curb=(180, 165, 145), road_half_width=4.0, marking=(230, 230, 230), marking_style="none",
        crosswalks=False, facades=((210, 140, 90), (225, 175, 110), (190, 110, 70), (200, 160, 100)),
        trim=(110, 70, 40), window=(60, 45, 35), window_lit=(255, 200, 120), lit_fraction=0.25,
        window_style="pairs", floors=(3, 5), floor_height=3.6, building_width=(9.0, 16.0),
        sign_shape="awning", sign_colors=((120, 20, 25), (30, 80, 40), (40, 40, 90)),
        sign_text=(250, 235, 200), sign_border=(60, 30, 20), sign_case="title"),
    "amsterdam": StreetLook(
        time_of_day="bright cloud", sky_top=(115, 155, 200), sky_horizon=(212, 222, 232), haze=(205, 214, 224),
        haze_distance=220.0, light=0.92, sun_azimuth=160.0, ground=(150, 120, 110), road=(140, 82, 72),
        curb=(190, 185, 178), road_half_width=4.0, marking=(240, 240, 240), marking_style="none",
        facades=((118, 48, 38), (88, 58, 48), (160, 88, 58), (60, 45, 40)), trim=(238, 238, 232),
        window=(35, 40, 45), window_style="tall", floors=(4, 5), floor_height=3.1,
        building_width=(6.0, 9.0), sign_shape="banner",
        sign_colors=((235, 110, 20), (100, 150, 215), (240, 240, 235)), sign_text=(20, 20, 20),
        sign_border=(20, 20, 20), sign_case="title"),
    "mumbai": StreetLook(
        time_of_day="hazy afternoon", sky_top=(180, 172, 150), sky_horizon=(232, 218, 184),
        haze=(222, 206, 170), haze_distance=130.0, light=0.95, sun_azimuth=220.0, ground=(176, 160, 132),
        road=(96, 90, 84), curb=(210, 200, 60), road_half_width=5.5, marking=(240, 200, 40),
        marking_style="solid", facades=((232, 190, 120), (205, 92, 82), (118, 172, 160), (238, 236, 224),
                                        (150, 120, 190)),
        trim=(80, 70, 60), window=(50, 60, 65), window_style="grid", floors=(2, 5), floor_height=3.0,
        building_width=(7.0, 14.0), sign_shape="banner",
        sign_colors=((250, 210, 20), (235, 95, 85), (60, 175, 95)), sign_text=(25, 25, 25),
        sign_border=(25, 25, 25), sign_case="upper", sign_scale=1.1),
    "sydney": StreetLook(
        time_of_day="clear day", sky_top=(10, 100, 225), sky_horizon=(140, 195, 245), haze=(180, 210, 240),
        haze_distance=400.0, light=1.0, sun_azimuth=0.0, ground=(212, 208, 198), road=(58, 60, 64),
        curb=(235, 232, 225), road_half_width=6.5, marking=(250, 250, 250), marking_style="dashed",
        facades=((236, 232, 222), (192, 172, 140), (120, 142, 152), (200, 205, 210)), trim=(70, 80, 90),
        window=(40, 90, 120), window_style="glass", floors=(6, 16), floor_height=3.6,
        building_width=(16.0, 28.0), sign_shape="rounded",
        sign_colors=((0, 100, 160), (150, 100, 0), (0, 125, 100)), sign_text=(255, 255, 255),
        sign_border=(255, 255, 255), sign_case="title"),
    "cairo": StreetLook(
        time_of_day="dusty afternoon", sky_top=(196, 178, 140), sky_horizon=(236, 220, 186),
        haze=(228, 206, 160), haze_distance=110.0, light=0.95, sun_azimuth=240.0, ground=(200, 182, 145),
        road=(132, 122, 102), curb=(214, 198, 160), road_half_width=5.0, marking=(230, 230, 230),
        marking_style="none", crosswalks=False,
        facades=((222, 196, 150), (202, 172, 122), (182, 152, 112), (214, 190, 160)), trim=(120, 90, 60),
        window=(80, 65, 50), window_style="pairs", floors=(3, 7), floor_height=3.1,
        building_width=(8.0, 15.0), sign_shape="board",
        sign_colors=((20, 110, 60), (20, 80, 150), (180, 40, 30)), sign_text=(255, 255, 255),
        sign_border=(240, 230, 200), sign_case="upper"),
    "moscow": StreetLook(
        time_of_day="winter day", sky_top=(165, 176, 192), sky_horizon=(226, 229, 234), haze=(222, 226, 232),
        haze_distance=180.0, light=0.9, sun_azimuth=190.0, ground=(236, 239, 243), road=(118, 120, 124),
        curb=(250, 250, 252), road_half_width=7.0, marking=(245, 245, 245), marking_style="solid",
        facades=((202, 170, 118), (172, 62, 52), (222, 222, 212), (150, 160, 140)), trim=(245, 245, 240),
        window=(55, 65, 80), window_style="grid", floors=(5, 9), floor_height=3.4,
        building_width=(18.0, 30.0), sign_shape="board",
        sign_colors=((200, 20, 30), (20, 60, 140), (20, 110, 70)), sign_text=(255, 255, 255),
        sign_border=(30, 30, 30), sign_case="upper"),
}

# The shape of each unseen city's streets (the training city keeps the plain canyon of the
# defaults): street widths, setbacks and gaps, skyline, trees, lamps, parked cars and the camera.
_GEOMETRY: dict[str, dict[str, object]] = {
    "paris": dict(road_width_variation=0.25, tree_spacing=9.0, tree_height=(8.0, 11.0),
                  tree_color=(78, 112, 52), lamp_spacing=22.0, parked_cars=0.5, roof="flat",
                  eye_height=(2.0, 2.6), fov=(84.0, 96.0)),
    "london": dict(road_width_variation=0.2, building_setback=(0.0, 3.0), building_gap=0.08,
                   tree_spacing=26.0, tree_height=(6.0, 9.0), tree_color=(62, 96, 50), lamp_spacing=18.0,
                   parked_cars=0.65, eye_height=(1.8, 2.3), fov=(80.0, 92.0),
                   car_colors=((20, 20, 24), (200, 200, 205), (150, 20, 25), (30, 50, 90))),
    "tokyo": dict(road_width_variation=0.3, building_gap=0.15, tower_chance=0.25, tower_floors=(14, 26),
                  lamp_spacing=14.0, lamp_color=(70, 70, 78), parked_cars=0.12, eye_height=(1.6, 2.0),
                  fov=(96.0, 106.0), car_colors=((240, 240, 240), (30, 30, 34), (200, 200, 210))),
    "barcelona": dict(road_width_variation=0.15, tree_spacing=8.0, tree_height=(9.0, 12.0),
                      tree_color=(96, 130, 60), lamp_spacing=20.0, parked_cars=0.45,
                      eye_height=(2.4, 3.0), fov=(88.0, 94.0)),
    "rome": dict(road_width_variation=0.3, building_gap=0.05, building_setback=(0.0, 1.0), parked_cars=0.7,
                 lamp_spacing=16.0, lamp_color=(30, 28, 26), eye_height=(1.6, 2.0), fov=(80.0, 88.0),
                 car_colors=((220, 210, 190), (120, 20, 20), (40, 60, 40), (90, 90, 95))),
    "amsterdam": dict(road_width_variation=0.2, roof="gable", tree_spacing=12.0, tree_height=(7.0, 10.0),
                      tree_color=(70, 118, 58), lamp_spacing=25.0, parked_cars=0.35,
                      eye_height=(1.9, 2.3), fov=(86.0, 94.0)),
    "mumbai": dict(road_width_variation=0.3, building_setback=(0.0, 4.0), building_gap=0.15, tower_chance=0.1,
                   tower_floors=(12, 22), tree_spacing=18.0, tree_height=(6.0, 10.0), tree_color=(60, 105, 45),
                   parked_cars=0.5, eye_height=(2.6, 3.2), fov=(92.0, 102.0),
                   car_colors=((250, 210, 20), (30, 30, 30), (240, 240, 235), (30, 120, 60))),
    "sydney": dict(road_width_variation=0.2, building_setback=(0.0, 8.0), building_gap=0.2, tower_chance=0.35,
                   tower_floors=(20, 34), tree_spacing=15.0, tree_height=(6.0, 9.0), tree_color=(56, 120, 70),
                   lamp_spacing=24.0, parked_cars=0.2, eye_height=(2.4, 3.0), fov=(98.0, 110.0)),
    "cairo": dict(road_width_variation=0.35, building_setback=(0.0, 2.0), building_gap=0.1, tree_spacing=30.0,
                  tree_height=(7.0, 12.0), tree_color=(90, 120, 60), parked_cars=0.6, eye_height=(1.8, 2.4),
                  fov=(86.0, 96.0), car_colors=((235, 235, 230), (30, 30, 30), (200, 170, 40), (150, 40, 40))),
    "moscow": dict(road_width_variation=0.15, building_setback=(2.0, 7.0), building_gap=0.12, tower_chance=0.1,
                   tower_floors=(18, 26), tree_spacing=14.0, tree_height=(7.0, 10.0), tree_color=(110, 100, 88),
                   lamp_spacing=24.0, parked_cars=0.3, eye_height=(2.6, 3.4), fov=(86.0, 100.0)),
}

STYLES: dict[str, CityStyle] = {
    s.name: s.replace(look=_LOOKS[s.name].replace(**_GEOMETRY.get(s.name, {})))
    for s in (_NEW_YORK, _PARIS, _LONDON, _TOKYO, _BARCELONA, _ROME, _AMSTERDAM, _MUMBAI,
              _SYDNEY, _CAIRO, _MOSCOW)
}
"""Built-in styles by name."""

#: Fixed order of the built-in styles; a style's index in it seeds its cities, so never reorder.
STYLE_NAMES: tuple[str, ...] = tuple(STYLES)

TRAINING_STYLE = "new_york"
"""The in-distribution style (the paper trains on New York routes)."""

UNSEEN_STYLES: tuple[str, ...] = tuple(name for name in STYLE_NAMES if name != TRAINING_STYLE)
"""Styles held out for the visual out-of-distribution setting."""


def register_style(style: CityStyle) -> None:
    """Make ``style`` available by name (e.g. ``gym.make("VIRL-v0", style=style.name)``).

    Raises:
        TypeError: If ``style`` is not a :class:`CityStyle`.
        ValueError: If the name is taken by a built-in style.
    """
    if not isinstance(style, CityStyle):
        raise TypeError(f"style must be a CityStyle, got {type(style).__name__}")
    if style.name in STYLE_NAMES:
        raise ValueError(f"style name {style.name!r} is a built-in style; choose another name")
    STYLES[style.name] = style


def get_style(style: str | CityStyle) -> CityStyle:
    """Return the :class:`CityStyle` for a name (or the style itself).

    Raises:
        ValueError: If the name is unknown (the message lists the known names).
        TypeError: If ``style`` is neither a string nor a :class:`CityStyle`.
    """
    if isinstance(style, CityStyle):
        return style
    if not isinstance(style, str):
        raise TypeError(f"style must be a style name or a CityStyle, got {type(style).__name__}")
    try:
        return STYLES[style]
    except KeyError:
        raise ValueError(f"unknown city style {style!r}; known styles: {sorted(STYLES)}") from None
