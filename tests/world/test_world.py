"""The knowledge world on the micro preset (seconds): real properties of the world and its model."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from llmcal.errors import InputError
from llmcal.tasks import load_items
from llmcal.world.build import build_world, load_built_world, read_task_file
from llmcal.world.generator import SPLITS, generate_world
from llmcal.world.presets import preset
from llmcal.world.text import fact_sentence, pretraining_sentences


@pytest.fixture(scope="session")
def micro_world(tmp_path_factory):
    return build_world(preset("micro"), tmp_path_factory.mktemp("worlds") / "micro")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_pretraining_teaches_known_facts_and_nothing_else(micro_world):
    summary = micro_world.summary
    chance = summary["recall_chance"]
    assert chance == pytest.approx(1 / 12)
    assert summary["recall_known"] >= 0.5  # 6x chance
    assert summary["recall_unknown"] <= 3 * chance  # never read: about chance
    # Recall is checked after every pass from min_passes on, and training stops once it passes the target.
    history = summary["pretraining"]
    assert (
        history[-1]["recall"] >= preset("micro").pretrain.recall_target
        or len(history) == preset("micro").pretrain.max_passes
    )


@pytest.mark.slow
def test_splits_have_disjoint_entities_and_both_kinds(micro_world):
    entities_by_split = {}
    for split in SPLITS:
        items = read_jsonl(micro_world.task_file(split))
        entities_by_split[split] = {item["entity"] for item in items}
        assert {item["known_entity"] for item in items} == {True, False}
    train, calibration, test = entities_by_split.values()
    assert not train & calibration
    assert not train & test
    assert not calibration & test


@pytest.mark.slow
def test_ground_truth_matches_the_pretraining_text(micro_world):
    world = generate_world(preset("micro"))
    corpus = {sentence for sentence, _ in pretraining_sentences(world)}
    by_name = {entity.name: entity for entity in world.entities}
    for split in SPLITS:
        for item in read_jsonl(micro_world.task_file(split)):
            entity = by_name[item["entity"]]
            attribute = [name for name, _ in world.attributes].index(item["subject"])
            gold = item["choices"][item["answer"]]
            assert gold == world.value(entity, attribute)
            assert len(set(item["choices"])) == 4
            assert (fact_sentence(world, entity, attribute) in corpus) == item["known_entity"]
            assert item["popularity"] == entity.popularity
            assert item["context"].startswith("Q : A ) ")


@pytest.mark.slow
def test_model_knows_is_mostly_right_on_known_and_near_chance_on_unknown(micro_world):
    items = [item for split in SPLITS for item in read_jsonl(micro_world.task_file(split))]
    known = [item["model_knows"] for item in items if item["known_entity"]]
    unknown = [item["model_knows"] for item in items if not item["known_entity"]]
    assert sum(known) / len(known) > sum(unknown) / len(unknown) + 0.2
    assert sum(unknown) / len(unknown) < 0.5  # 4 options: chance is 0.25


@pytest.mark.slow
def test_exported_model_and_tasks_load_with_standard_tools(micro_world):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(micro_world.model_dir, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(micro_world.model_dir)
    assert tokenizer.encode("the job of")[0] == tokenizer.bos_token_id
    assert model.config.vocab_size == len(tokenizer)
    items = load_items(micro_world.task_file("test"))
    assert Counter(item.subject for item in items) == {"job": len(items) // 2, "hometown": len(items) // 2}
    assert load_built_world(micro_world.root).summary == micro_world.summary


@pytest.mark.slow
def test_the_same_seed_builds_the_same_world(micro_world, tmp_path):
    again = build_world(preset("micro"), tmp_path / "again")
    for split in SPLITS:
        assert again.task_file(split).read_bytes() == micro_world.task_file(split).read_bytes()
    assert again.summary["recall_known"] == micro_world.summary["recall_known"]
    other = generate_world(preset("micro", seed=1))
    assert [e.name for e in other.entities] != [e.name for e in generate_world(preset("micro")).entities]


@pytest.mark.slow
def test_task_files_read_back_as_written(micro_world):
    for split in SPLITS:
        path = micro_world.task_file(split)
        assert read_task_file(path) == read_jsonl(path)
        assert path.read_text(encoding="utf-8") == "".join(json.dumps(r) + "\n" for r in read_jsonl(path))


@pytest.mark.parametrize("content", [None, b"\xff", b'{"summary": '])
def test_a_folder_without_a_readable_world_json_is_not_a_world(tmp_path, content):
    if content is not None:
        (tmp_path / "world.json").write_bytes(content)
    with pytest.raises(InputError, match=r"is not a knowledge world \(no readable world\.json\)\.$"):
        load_built_world(tmp_path)
