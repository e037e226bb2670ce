"""tgm exercise: each exercise fails when started, passes with the reference bodies, names a planted bug."""

import pytest

from tinygrad_med import exercises
from tinygrad_med.cli import main
from tinygrad_med.exercises.check import check_file

NAMES = exercises.names()
REQUIRED = {
    "linear",
    "relu",
    "softmax_cross_entropy",
    "conv2d",
    "max_pool2d",
    "batch_norm",
    "dropout",
    "lstm_cell",
    "graph_laplacian",
    "cheb_conv",
    "adam",
}


def test_the_list_holds_the_course():
    assert REQUIRED <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_started_exercise_fails_with_not_implemented(name, tmp_path, capsys):
    assert main(["exercise", "start", name, "--dir", str(tmp_path)]) == 0
    text = (tmp_path / f"{name}.py").read_text()
    assert "raise NotImplementedError" in text and "Forward" in text
    assert main(["exercise", "check", name, "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "NotImplementedError" in out.out and "not written yet" in out.out
    assert len(out.err.strip().splitlines()) == 1  # one line on stderr, as the rest of the CLI


@pytest.mark.parametrize("name", NAMES)
def test_reference_bodies_pass(name, tmp_path):
    path = tmp_path / f"{name}.py"
    path.write_text(exercises.render(exercises.get(name), blank=False))
    assert check_file(exercises.get(name), path) == []


@pytest.mark.parametrize(
    "name, target", [(e.name, t) for e in exercises.EXERCISES for t in e.targets], ids=lambda v: str(v)
)
def test_every_target_on_its_own_is_checked(name, target, tmp_path):
    # the reference everywhere but this one target: the check must still reach it and fail
    path = tmp_path / f"{name}.py"
    path.write_text(exercises.render(exercises.get(name), blank={target}))
    problems = check_file(exercises.get(name), path)
    assert len(problems) == 1 and f"{target}: not written yet" in problems[0], problems


def test_filled_in_file_passes_through_the_cli(tmp_path, capsys):
    (tmp_path / "relu.py").write_text(exercises.render(exercises.get("relu"), blank=False))
    assert main(["exercise", "check", "relu", "--dir", str(tmp_path)]) == 0
    assert "passed" in capsys.readouterr().out


def _planted(tmp_path, name, old, new):
    source = exercises.render(exercises.get(name), blank=False)
    assert old in source, f"{old!r} is no longer in {name}'s reference; update the planted bug"
    path = tmp_path / f"{name}.py"
    path.write_text(source.replace(old, new, 1))
    return check_file(exercises.get(name), path)


def test_wrong_sign_in_one_gradient_names_that_input(tmp_path):
    problems = _planted(tmp_path, "linear", "gW = gy2d.T @ self.x2d", "gW = -(gy2d.T @ self.x2d)")
    assert "the gradient for W is wrong" in problems[0]
    assert all("gradient for W" in p for p in problems)  # x's and b's are right: not named


def test_wrong_forward_is_reported_with_its_place(tmp_path):
    problems = _planted(tmp_path, "relu", "maximum(x, 0)", "maximum(x, 0.5)")
    assert "forward: y is wrong" in problems[0] and "largest error" in problems[0] and "at [" in problems[0]
    # the backward (gy where y > 0) is no longer the derivative of that forward: said too
    assert any("disagrees with central differences of your own forward" in p for p in problems[1:])


def test_wrong_forward_with_its_matching_backward_blames_only_the_forward(tmp_path):
    source = exercises.render(exercises.get("linear"), blank=False)
    path = tmp_path / "linear.py"
    path.write_text(
        source.replace("y += b", "y += 2 * b").replace("gb = gy2d.sum(axis=0)", "gb = 2 * gy2d.sum(axis=0)")
    )
    problems = check_file(exercises.get("linear"), path)
    assert len(problems) == 1 and "forward: y is wrong" in problems[0]


def test_backward_inconsistent_with_its_own_forward_is_caught(tmp_path):
    # a wrong conv backward for W: both the reference comparison and the central differences see it
    problems = _planted(tmp_path, "conv2d", "gW = xp.matmul(gy_t,", "gW = 2 * xp.matmul(gy_t,")
    assert "the gradient for W is wrong" in problems[0]


def test_wrong_output_shape_is_reported(tmp_path):
    problems = _planted(tmp_path, "graph_laplacian", "return eye - d[:, None] * A * d[None, :]", "return A[:-1]")
    problems += _planted(tmp_path, "graph_laplacian", "return (D - A).tocsr() if sparse else D - A", "return A[:-1]")
    assert any("has shape" in p and "should have" in p for p in problems)


def test_start_never_overwrites_without_force(tmp_path, capsys):
    path = tmp_path / "adam.py"
    path.write_text("my work")
    assert main(["exercise", "start", "adam", "--dir", str(tmp_path)]) == 2
    assert path.read_text() == "my work" and "--force" in capsys.readouterr().err
    assert main(["exercise", "start", "adam", "--dir", str(tmp_path), "--force"]) == 0
    assert "NotImplementedError" in path.read_text()


def test_unknown_exercise_and_missing_file_are_one_line(tmp_path, capsys):
    assert main(["exercise", "start", "convolution", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no exercise 'convolution'" in err and "conv2d" in err and len(err.strip().splitlines()) == 1
    assert main(["exercise", "check", "conv2d", "--dir", str(tmp_path)]) == 2
    assert "tgm exercise start conv2d" in capsys.readouterr().err


def test_a_syntax_error_in_the_students_file_is_a_failure(tmp_path, capsys):
    (tmp_path / "relu.py").write_text("def forward(:\n")
    assert main(["exercise", "check", "relu", "--dir", str(tmp_path)]) == 1
    assert "does not import: SyntaxError" in capsys.readouterr().out


def test_list_names_every_exercise(capsys):
    assert main(["exercise", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in NAMES)
