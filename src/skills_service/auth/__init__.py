"""Who is asking: bearer tokens today; sessions and single sign-on build on this."""
