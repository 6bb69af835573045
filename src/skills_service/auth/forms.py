"""Sign-in and account forms (Flask-WTF: CSRF token included)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Regexp

from skills_service.web.forms import WholeNumberField


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = StringField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class SecondFactorForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        "Authentication code or recovery code",
        validators=[DataRequired(), Length(min=6, max=32)],
    )


class PasswordChangeForm(FlaskForm):  # type: ignore[misc]
    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=1024)]
    )
    new_password = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])


class EnrolmentForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        "Code from your authenticator app", validators=[DataRequired(), Regexp(r"^\s*\d{6}\s*$")]
    )


class TokenForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(min=1, max=64)])
    scopes = SelectMultipleField("Scopes", choices=["read", "write"], default=["read"])
    expires_days = WholeNumberField(
        "Expires after (days)", default=90, validators=[DataRequired(), NumberRange(min=1, max=365)]
    )
