"""Forms of the web pages (Flask-WTF: every one carries the CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField
from wtforms.validators import DataRequired, NumberRange, Optional

LEVELS = [
    (1, "1 · awareness"),
    (2, "2 · beginner"),
    (3, "3 · practitioner"),
    (4, "4 · advanced"),
    (5, "5 · expert"),
]


class LevelForm(FlaskForm):  # type: ignore[misc]
    """Set one of my skills; ``version`` is the ETag the page was rendered with."""

    skill_id = IntegerField("Skill", validators=[DataRequired(), NumberRange(min=1)])
    level = IntegerField("Level", validators=[DataRequired(), NumberRange(min=1, max=5)])
    interested = BooleanField("Interested in growing")
    version = IntegerField("Version", validators=[Optional(), NumberRange(min=1)])


class RemoveForm(FlaskForm):  # type: ignore[misc]
    skill_id = HiddenField(validators=[DataRequired()])
    version = HiddenField(validators=[DataRequired()])


class VerifyForm(FlaskForm):  # type: ignore[misc]
    person_id = HiddenField(validators=[DataRequired()])
    skill_id = HiddenField(validators=[DataRequired()])
    version = HiddenField(validators=[DataRequired()])
