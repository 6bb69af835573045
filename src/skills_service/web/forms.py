"""Forms of the web pages (Flask-WTF: every one carries the CSRF token)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from skills_service.services.common import MAX_ID, ascii_int

LEVELS = [
    (1, "1 · awareness"),
    (2, "2 · beginner"),
    (3, "3 · practitioner"),
    (4, "4 · advanced"),
    (5, "5 · expert"),
]


class WholeNumberField(IntegerField):  # type: ignore[misc]
    """A number read by the one integer parser: ASCII digits from 0 to ``MAX_ID``.

    WTForms' own field reads other scripts' digits through ``int`` and numbers of any
    size; an id beyond the columns' range would then fail in the database.
    """

    data: Any

    def process_formdata(self, valuelist: Sequence[Any]) -> None:
        if not valuelist:
            return
        self.data = ascii_int(str(valuelist[0]).strip())
        if self.data is None:
            raise ValueError(f"Must be a whole number from 0 to {MAX_ID}.")


class LevelForm(FlaskForm):  # type: ignore[misc]
    """Set one of my skills; ``version`` is the ETag the page was rendered with."""

    skill_id = WholeNumberField("Skill", validators=[DataRequired(), NumberRange(min=1)])
    level = WholeNumberField("Level", validators=[DataRequired(), NumberRange(min=1, max=5)])
    interested = BooleanField("Interested in growing")
    version = WholeNumberField("Version", validators=[Optional(), NumberRange(min=1)])


class RemoveForm(FlaskForm):  # type: ignore[misc]
    skill_id = WholeNumberField(validators=[DataRequired(), NumberRange(min=1)])
    version = WholeNumberField(validators=[DataRequired(), NumberRange(min=1)])


class VerifyForm(FlaskForm):  # type: ignore[misc]
    person_id = WholeNumberField(validators=[DataRequired(), NumberRange(min=1)])
    skill_id = WholeNumberField(validators=[DataRequired(), NumberRange(min=1)])
    version = WholeNumberField(validators=[DataRequired(), NumberRange(min=1)])


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """A button that changes something: nothing to fill in but the CSRF token."""


class PersonCreateForm(FlaskForm):  # type: ignore[misc]
    email = StringField("Email", validators=[DataRequired(), Length(max=320)])
    name = StringField("Name", validators=[DataRequired(), Length(max=256)])
    role = StringField("Role", validators=[DataRequired(), Length(max=16)])


class PersonUpdateForm(FlaskForm):  # type: ignore[misc]
    role = StringField("Role", validators=[DataRequired(), Length(max=16)])
    active = BooleanField("Active")
    version = WholeNumberField("Version", validators=[DataRequired(), NumberRange(min=1)])


class TeamForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(max=256)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])


class MemberForm(FlaskForm):  # type: ignore[misc]
    email = StringField("Email", validators=[DataRequired(), Length(max=320)])
    manager = BooleanField("Manages the team")
    version = WholeNumberField("Version", validators=[DataRequired(), NumberRange(min=1)])


class MemberRemoveForm(FlaskForm):  # type: ignore[misc]
    person_id = WholeNumberField(validators=[DataRequired(), NumberRange(min=1)])
    version = WholeNumberField(validators=[DataRequired(), NumberRange(min=1)])


class TargetForm(FlaskForm):  # type: ignore[misc]
    """Set one target; ``level`` 0 removes it. ``version`` is the team's."""

    skill_id = WholeNumberField("Skill", validators=[DataRequired(), NumberRange(min=1)])
    level = WholeNumberField(
        "Target level", validators=[InputRequired(), NumberRange(min=0, max=5)]
    )
    version = WholeNumberField("Version", validators=[DataRequired(), NumberRange(min=1)])


class SkillForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(max=256)])
    category = StringField("Category", validators=[DataRequired(), Length(max=256)])
    description = TextAreaField("Description (Markdown)", validators=[Optional(), Length(max=5000)])
    aliases = StringField("Aliases, comma-separated", validators=[Optional(), Length(max=1000)])
    deprecated = BooleanField("Deprecated")
    version = WholeNumberField("Version", validators=[Optional(), NumberRange(min=1)])


class ImportForm(FlaskForm):  # type: ignore[misc]
    file = FileField("CSV file", validators=[FileRequired()])
