import pytest

from helpers import parse, problems

LR = """
version: 1
lr_schedulers:
  step:
    class: StepLR
    step_size: 2
    gamma: 0.5
"""



def only(text):
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_valid_schedule_becomes_typed_objects():
    schedule = parse(LR + """
policies:
  - lr_scheduler: {instance_name: step}
    starting_epoch: 1
    ending_epoch: 7
    frequency: 2
  - lr_scheduler: {instance_name: step}
    epochs: [3, 0]
training: {epochs: 9, optimizer: Adam, lr: 0.01}
dataset: {name: fake, size: 16}
model: {arch: simplenet_mnist}
""")
    spec = schedule.component("lr_schedulers", "step")
    assert spec.class_name == "StepLR" and spec.config.step_size == 2 and spec.config.gamma == 0.5
    assert schedule.policies[0].epochs == (1, 3, 5)  # ending_epoch is exclusive
    assert schedule.policies[1].epochs == (0, 3)
    assert schedule.training.optimizer == "adam" and schedule.training.epochs == 9
    assert schedule.dataset.name == "fake" and schedule.model.arch == "simplenet_mnist"


def test_defaults_when_sections_are_absent():
    schedule = parse("version: 1\n")
    assert schedule.policies == [] and schedule.training.epochs >= 1 and schedule.model.arch is None


def test_top_level_list():
    assert "must be a mapping" in only("- 1\n- 2\n").message


def test_unknown_top_level_key_suggests():
    problem = only("version: 1\npolicy: []\n")
    assert problem.path == "policy" and problem.line == 2 and "did you mean 'policies'" in problem.message


def test_unknown_class_suggests_close_match():
    problem = only("lr_schedulers:\n  s:\n    class: StepRL\n    step_size: 1\n")
    assert problem.path == "lr_schedulers.s.class" and problem.line == 3
    assert "did you mean 'StepLR'" in problem.message


def test_unknown_argument_suggests_close_match():
    problem = only("lr_schedulers:\n  s:\n    class: StepLR\n    step_size: 1\n    gama: 0.1\n")
    assert problem.path == "lr_schedulers.s.gama" and problem.line == 5
    assert "did you mean 'gamma'" in problem.message


def test_missing_required_argument():
    problem = only("lr_schedulers:\n  s:\n    class: StepLR\n")
    assert problem.path == "lr_schedulers.s.step_size" and "missing" in problem.message


def test_wrong_type():
    problem = only("lr_schedulers:\n  s:\n    class: StepLR\n    step_size: two\n")
    assert problem.path == "lr_schedulers.s.step_size" and problem.line == 4 and "'two'" in problem.message


def test_missing_class():
    assert "missing 'class:'" in only("pruners:\n  p:\n    final_sparsity: 0.5\n").message


def test_undefined_instance_lists_defined_ones():
    problem = only(LR + "policies:\n  - lr_scheduler:\n      instance_name: stp\n    epochs: [0]\n")
    assert problem.path == "policies[0].lr_scheduler.instance_name"
    assert problem.line == 10
    assert "'stp' is not defined under lr_schedulers" in problem.message
    assert "did you mean 'step'" in problem.message and "(defined: step)" in problem.message


def test_undefined_instance_in_empty_section():
    problem = only("policies:\n  - pruner: {instance_name: agp}\n    epochs: [0]\n")
    assert "'agp' is not defined under pruners" in problem.message


AGP_POLICY = "policies:\n  - pruner: {instance_name: agp}\n    epochs: [0]\n"


def test_a_misspelt_class_is_the_only_problem_of_the_policy_that_names_it():
    problem = only("pruners:\n  agp:\n    class: AutomatedGradualPrunr\n    initial_sparsity: 0.1\n"
                   "    final_sparsity: 0.5\n    weights: [fc1.weight]\n" + AGP_POLICY)
    assert problem.path == "pruners.agp.class" and problem.line == 3
    assert "AutomatedGradualPrunr" in problem.message and "did you mean 'AutomatedGradualPruner'" in problem.message


def test_invalid_arguments_are_the_only_problem_of_the_policy_that_names_it():
    problem = only("pruners:\n  agp:\n    class: AutomatedGradualPruner\n    initial_sparsity: 0.1\n"
                   "    final_sparsity: high\n    weights: [fc1.weight]\n" + AGP_POLICY)
    assert problem.path == "pruners.agp.final_sparsity" and problem.line == 5


def test_an_undefined_instance_is_reported_beside_an_invalid_one():
    found = problems("pruners:\n  agp: {class: AutomatedGradualPrunr}\n"
                     "policies:\n  - pruner: {instance_name: apg}\n    epochs: [0]\n")
    assert [p.path for p in found] == ["pruners.agp.class", "policies[0].pruner.instance_name"]
    assert "'apg' is not defined under pruners" in found[1].message and "(defined: agp)" in found[1].message


def test_frequency_zero():
    problem = only(LR + "policies:\n  - lr_scheduler: {instance_name: step}\n    ending_epoch: 5\n    frequency: 0\n")
    assert problem.path == "policies[0].frequency" and ">= 1" in problem.message and problem.line == 11


def test_ending_epoch_not_after_starting_epoch():
    problem = only(LR + "policies:\n  - lr_scheduler: {instance_name: step}\n    starting_epoch: 5\n    ending_epoch: 5\n")
    assert problem.path == "policies[0].ending_epoch" and "exclusive" in problem.message


def test_both_epochs_and_range():
    problem = only(LR + "policies:\n  - lr_scheduler: {instance_name: step}\n    epochs: [1]\n    ending_epoch: 5\n")
    assert "not both" in problem.message


def test_no_timing():
    assert "needs 'epochs" in only(LR + "policies:\n  - lr_scheduler: {instance_name: step}\n").message


def test_bad_epoch_list():
    problem = only(LR + "policies:\n  - lr_scheduler: {instance_name: step}\n    epochs: [1, -2]\n")
    assert problem.path == "policies[0].epochs"


def test_policy_with_two_kinds():
    problem = only(LR + "policies:\n  - lr_scheduler: {instance_name: step}\n    pruner: {instance_name: step}\n"
                        "    epochs: [0]\n")
    assert "exactly one of" in problem.message


def test_unknown_policy_key_suggests():
    problem = only(LR + "policies:\n  - lr_scheduler: {instance_name: step}\n    epochs: [0]\n    frequncy: 2\n")
    assert "did you mean 'frequency'" in problem.message


def test_bool_is_not_an_epoch():
    problem = only(LR + "policies:\n  - lr_scheduler: {instance_name: step}\n    ending_epoch: true\n")
    assert problem.path == "policies[0].ending_epoch"


def test_out_of_range_training_values():
    found = problems("training:\n  epochs: 0\n  lr: -1\n  momentum: 1.5\n  device: gpu\n")
    assert {p.path for p in found} == {"training.epochs", "training.lr", "training.momentum", "training.device"}
    assert {p.line for p in found} == {2, 3, 4, 5}


def test_unknown_model_and_dataset_suggest():
    found = problems("model: {arch: resnet81}\ndataset: {name: digit}\n")
    messages = " ".join(p.message for p in found)
    assert "did you mean 'resnet18'" in messages and "did you mean 'digits'" in messages


def test_every_problem_is_reported_at_once():
    found = problems("version: 2\ntraining: {epochs: 0}\nlr_schedulers:\n  s: {class: Nope}\n")
    assert len(found) == 3


def test_bad_policy_args_for_lr_scheduler():
    problem = only(LR + "policies:\n  - lr_scheduler: {instance_name: step, args: {keep_mask: true}}\n    epochs: [0]\n")
    assert "keep_mask" in problem.path


@pytest.mark.parametrize("names", ["  0: {class: StepLR, step_size: 1}\n",
                                   "  0: {class: StepLR, step_size: 1}\n  step: {class: StepLR, step_size: 1}\n"])
def test_instance_name_that_is_not_text(names):
    problem = problems("lr_schedulers:\n" + names + "policies:\n  - lr_scheduler: {instance_name: step}\n"
                       "    epochs: [0]\n")[0]
    assert problem.path == "lr_schedulers" and problem.line == 2 and "instance name 0 must be text" in problem.message


def test_epoch_range_too_long_to_spell_out():
    problem = only(LR + "policies:\n  - lr_scheduler: {instance_name: step}\n    ending_epoch: 100000000000\n")
    assert problem.path == "policies[0].ending_epoch" and problem.line == 10 and "<= 100000" in problem.message


def test_too_many_classes():
    problem = only("model: {arch: digits_cnn, num_classes: 100000000000000000000}\n")
    assert problem.path == "model.num_classes" and problem.line == 1


def test_a_validators_message_is_shown_in_its_own_words():
    found = only("version: 1\ndistillation:\n  teacher: {arch: digits_cnn}\n  start_epoch: 2\n  end_epoch: 2\n")
    assert str(found).endswith("distillation (line 2): end_epoch (2) must be after start_epoch (2)"), str(found)
