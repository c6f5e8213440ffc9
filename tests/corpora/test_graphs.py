"""Graphs corpus: distances, routes and road counts recomputed by enumerating every simple
path (a brute force independent of the corpus's Dijkstra), and prose roads match the map."""

from __future__ import annotations

import re

from auroragpt.corpora import get_corpus

ROADS = re.compile(r"Roads \(km\): (.+)\.")
DISTANCE = re.compile(r"The shortest distance from (\w+) to (\w+) is (\d+) km\.")
ROUTE = re.compile(r"The shortest route from (\w+) to (\w+) is ([\w, ]+)\.")
DEGREE = re.compile(r"The number of roads at (\w+) is (\d+)\.")


def parse_roads(line: str) -> dict[frozenset, int]:
    roads = {}
    for item in ROADS.fullmatch(line).group(1).split(", "):
        pair, km = item.rsplit(" ", 1)
        a, b = pair.split("-")
        roads[frozenset((a, b))] = int(km)
    return roads


def all_paths(roads: dict[frozenset, int], start: str, end: str) -> list[tuple[int, list[str]]]:
    """(length, towns) of every simple path from start to end, by depth-first search."""
    found = []

    def walk(path: list[str], length: int) -> None:
        if path[-1] == end:
            found.append((length, path))
            return
        for pair, km in roads.items():
            if path[-1] in pair:
                (other,) = pair - {path[-1]}
                if other not in path:
                    walk([*path, other], length + km)

    walk([start], 0)
    return found


def check_block(lines: list[str]) -> int:
    roads = parse_roads(lines[0])
    for line in lines[1:]:
        if m := DISTANCE.fullmatch(line):
            a, b, km = m.groups()
            assert int(km) == min(length for length, _ in all_paths(roads, a, b)), line
        elif m := ROUTE.fullmatch(line):
            a, b, route = m.groups()
            paths = all_paths(roads, a, b)
            best = min(length for length, _ in paths)
            shortest = [p for length, p in paths if length == best]
            assert shortest == [route.split(", ")], line  # unique, and this one
            assert len(shortest[0]) > 2
        elif m := DEGREE.fullmatch(line):
            town, n = m.groups()
            assert int(n) == sum(town in pair for pair in roads), line
        else:
            raise AssertionError(f"unexpected line after roads: {line!r}")
    return len(lines) - 1


def test_every_answer_in_documents_is_right():
    text = "".join(get_corpus("graphs").documents(seed=0, max_chars=300_000))
    checked = 0
    kinds = set()
    for paragraph in text.split("\n\n"):
        lines = paragraph.strip("\n").split("\n")
        if ROADS.fullmatch(lines[0]):
            checked += check_block(lines)
            kinds |= {line.split()[2] for line in lines[1:]}
    assert checked > 1_000
    assert kinds == {"distance", "route", "of"}  # every kind of question occurs


def test_prose_describes_exactly_the_mapped_roads():
    text = "".join(get_corpus("graphs").documents(seed=1, max_chars=150_000))
    paragraphs = text.split("\n\n")
    described = 0
    for prose, summary in zip(paragraphs, paragraphs[1:] + [""], strict=True):
        if not prose.startswith("There are"):
            continue
        said = {}
        for pattern in (r"A road of (\d+) km joins (\w+) and (\w+)\.",
                        r"From (\w+) a track runs (\d+) km to (\w+)\.",
                        r"(\w+) and (\w+) are linked by a (\d+) km lane\."):
            for groups in re.findall(pattern, prose):
                km = next(g for g in groups if g.isdigit())
                towns = frozenset(g for g in groups if not g.isdigit())
                said[towns] = int(km)
        assert said == parse_roads(summary.split("\n")[0])
        described += 1
    assert described > 50


def test_probe_answers_are_right():
    probes = get_corpus("graphs").probes(200, seed=0)
    for probe in probes:
        roads, question = probe.prompt.split("\n")
        assert check_block([roads, question + probe.answer]) == 1
    assert {p.prompt.split("\n")[1].split()[2] for p in probes} == {"distance", "route", "of"}
