"""Sign-in and account forms (Flask-WTF: CSRF token included)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from skills_service.web.forms import WholeNumberField


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = StringField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    code = StringField(
        "Authentication code or recovery code", validators=[Optional(), Length(max=32)]
    )


class SecondFactorForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        "Authentication code or recovery code",
        validators=[DataRequired(), Length(min=6, max=32)],
    )


class SignOutEverywhereForm(FlaskForm):  # type: ignore[misc]
    revoke_tokens = BooleanField("Also revoke my API tokens", default=True)


class ConfirmPasswordForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


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
