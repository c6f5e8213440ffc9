"""Graphs: small maps of towns joined by roads, with shortest routes worked out.

A map is a connected weighted graph of 4 to 6 towns (a random spanning tree plus a few extra
roads, lengths 1 to 9 km). Surveyor's notes describe the roads in prose, then give the map in
one compact line followed by questions in fixed forms:

    Roads (km): Alder-Birch 4, Alder-Cedar 9, Birch-Cedar 3.
    The shortest distance from Alder to Cedar is 7 km.
    The shortest route from Alder to Cedar is Alder, Birch, Cedar.
    The number of roads at Birch is 2.

Routes are only asked for when the shortest one is unique. A held-out map (hash of its road
list) never appears in any document.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from auroragpt.corpora.base import Fact, GeneratedCorpus
from auroragpt.corpora.narrative import PEOPLE, count_noun, join_words, paragraphs

NAME = "graphs"
TOWNS = (
    "Alder", "Ash", "Beech", "Birch", "Cedar", "Clover", "Elm", "Fern", "Fir", "Hazel",
    "Heather", "Holly", "Ivy", "Juniper", "Larch", "Laurel", "Maple", "Moss", "Oak", "Pine",
    "Poplar", "Reed", "Rowan", "Sorrel", "Spruce", "Tansy", "Thistle", "Willow", "Yarrow", "Yew",
)

Road = tuple[str, str, int]  # (town, town, length in km), towns in alphabetical order


@dataclass(frozen=True)
class Map:
    roads: tuple[Road, ...]  # sorted, so equal maps are equal tuples

    @property
    def key(self) -> str:
        return self.roads_line

    @cached_property
    def towns(self) -> tuple[str, ...]:
        return tuple(sorted({town for a, b, _ in self.roads for town in (a, b)}))

    @property
    def roads_line(self) -> str:
        return "Roads (km): " + ", ".join(f"{a}-{b} {km}" for a, b, km in self.roads) + "."

    def neighbours(self, town: str) -> list[tuple[str, int]]:
        return [(b if a == town else a, km) for a, b, km in self.roads if town in (a, b)]

    @cached_property
    def shortest(self) -> dict[tuple[str, str], tuple[int, tuple[str, ...] | None]]:
        """(start, end) -> (distance, route or None when several routes tie), by Dijkstra."""
        table = {}
        for start in self.towns:
            best = {start: 0}
            routes: dict[str, tuple[str, ...] | None] = {start: (start,)}
            queue = [(0, start)]
            done = set()
            while queue:
                dist, town = heapq.heappop(queue)
                if town in done:
                    continue
                done.add(town)
                for other, km in self.neighbours(town):
                    new = dist + km
                    if other not in best or new < best[other]:
                        best[other] = new
                        route = routes[town]
                        routes[other] = None if route is None else (*route, other)
                        heapq.heappush(queue, (new, other))
                    elif new == best[other] and other not in done:
                        routes[other] = None  # a second route of the same length
            for end in self.towns:
                table[start, end] = (best[end], routes[end])
        return table

    @property
    def questions(self) -> list[tuple[str, str]]:
        """(question, answer) pairs: every distance and unique route between distinct towns
        (alphabetical start first), and every town's number of roads."""
        pairs = []
        for i, start in enumerate(self.towns):
            for end in self.towns[i + 1:]:
                km, route = self.shortest[start, end]
                pairs.append((f"The shortest distance from {start} to {end} is", f" {km} km."))
                if route is not None and len(route) > 2:
                    pairs.append((f"The shortest route from {start} to {end} is",
                                  f" {', '.join(route)}."))
        for town in self.towns:
            pairs.append((f"The number of roads at {town} is", f" {len(self.neighbours(town))}."))
        return pairs

    @cached_property
    def facts(self) -> tuple[Fact, ...]:
        return tuple(Fact(f"{self.roads_line}\n{q}", a) for q, a in self.questions)


def sample_map(rng: random.Random) -> Map:
    towns = rng.sample(TOWNS, rng.randint(4, 6))
    pairs = set()
    for i in range(1, len(towns)):  # a random spanning tree keeps the map connected
        pairs.add(tuple(sorted((towns[i], towns[rng.randrange(i)]))))
    all_pairs = [(a, b) for i, a in enumerate(towns) for b in towns[i + 1:]]
    for _ in range(rng.randint(0, 3)):
        pairs.add(tuple(sorted(rng.choice(all_pairs))))
    # NOTE: sorted before drawing lengths: set order follows string hashing, which changes
    # from one Python process to the next.
    return Map(tuple((a, b, rng.randint(1, 9)) for a, b in sorted(pairs)))


INTROS = (
    "Survey notes on the roads of the {region} district, by {p}.",
    "{p}'s travel journal: a week among the villages of {region}.",
    "Road map of {region}, drawn up for the postal service.",
)
REGIONS = ("Greyvale", "Upper Marsh", "Eastholm", "Lowmead", "Brackenmoor", "Highcombe")
CLOSERS = (
    "All lengths were paced out and rounded to whole kilometres.",
    "The post riders now use these routes.",
    "{p} will walk the longest road again to check its length.",
)


class GraphsCorpus(GeneratedCorpus[Map]):
    name = NAME
    description = "maps of towns and roads: shortest distances, routes and road counts"

    def sample_item(self, rng: random.Random) -> Map:
        return sample_map(rng)

    def write_document(self, rng: random.Random, draw: Callable[..., Map]) -> str:
        p = rng.choice(PEOPLE)
        fill = {"p": p, "region": rng.choice(REGIONS)}
        blocks = [rng.choice(INTROS).format(**fill)]
        for town_map in (draw() for _ in range(rng.randint(1, 2))):
            blocks += [_describe(rng, town_map), _summary(rng, town_map), _explain(rng, town_map)]
        blocks.append(rng.choice(CLOSERS).format(**fill))
        return paragraphs(*blocks)


def _describe(rng: random.Random, town_map: Map) -> str:
    towns = list(town_map.towns)
    rng.shuffle(towns)
    lines = [f"There are {len(towns)} villages here: {join_words(towns)}."]
    roads = list(town_map.roads)
    rng.shuffle(roads)
    for a, b, km in roads:
        if rng.random() < 0.5:
            a, b = b, a
        lines.append(rng.choice((
            "A road of {km} km joins {a} and {b}.",
            "From {a} a track runs {km} km to {b}.",
            "{a} and {b} are linked by a {km} km lane.",
        )).format(a=a, b=b, km=km))
    return "\n".join(lines)


def _summary(rng: random.Random, town_map: Map) -> list[str]:
    """The roads line and a random selection of questions, in random order."""
    questions = town_map.questions
    chosen = rng.sample(questions, min(len(questions), rng.randint(3, 7)))
    return [town_map.roads_line, *(q + a for q, a in chosen)]


def _explain(rng: random.Random, town_map: Map) -> str:
    """Why one shortest route beats the alternatives, in words."""
    start, end = rng.sample(town_map.towns, 2)
    km, route = town_map.shortest[start, end]
    if route is None:
        return f"Between {start} and {end} several routes tie at {count_noun(km, 'kilometre')}."
    legs = [next(k for x, y, k in town_map.roads if {x, y} == {route[i], route[i + 1]})
            for i in range(len(route) - 1)]
    if len(route) == 2:
        return f"The quickest way from {start} to {end} is the direct road of {km} km."
    return (f"To get from {start} to {end}, go by way of {join_words(list(route[1:-1]))}: "
            f"{' + '.join(map(str, legs))} = {km} km, shorter than any other way.")
