"""Property: any text gives a Schedule or a ScheduleError with a message; never another exception."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compressor.compression.core.errors import ScheduleError, UserError
from compressor.compression.schedule import Schedule, parse_schedule_text
from compressor.compression.schedule.parse import TOP_LEVEL_KEYS
from schedule_strategies import SCHEDULES, documents, dump, mutations, text_mutations

PROPERTY = settings(max_examples=100, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
YAML_CHARACTERS = st.sampled_from(list("-:[]{}!&*#|>'\"?,%@` \n\tax01.~"))


def check_loads_or_explains(text):
    """The property: a Schedule, or a ScheduleError whose every problem says what is wrong."""
    try:
        result = parse_schedule_text(text, "fuzz.yaml")
    except UserError as err:
        assert isinstance(err, ScheduleError), type(err)
        assert err.problems and all(problem.message for problem in err.problems)
        assert str(err).strip()
        return
    assert isinstance(result, Schedule)


def test_shipped_schedules_load():
    for path in SCHEDULES:
        assert isinstance(parse_schedule_text(path.read_text(), path.name), Schedule)


@PROPERTY
@given(st.text() | st.text(YAML_CHARACTERS))
def test_any_text(text):
    check_loads_or_explains(text)


@PROPERTY
@given(documents)
def test_any_yaml_document(document):
    check_loads_or_explains(dump(document))


@PROPERTY
@given(st.dictionaries(st.sampled_from(TOP_LEVEL_KEYS), documents, max_size=4))
def test_any_mapping_of_sections(document):
    check_loads_or_explains(dump(document))


@settings(PROPERTY, max_examples=300)
@given(mutations(st.sampled_from(SCHEDULES)))
def test_mutated_shipped_schedules(text):
    check_loads_or_explains(text)


@PROPERTY
@given(mutations(st.sampled_from(SCHEDULES)).flatmap(text_mutations))
def test_twice_mutated_shipped_schedules(text):
    check_loads_or_explains(text)
