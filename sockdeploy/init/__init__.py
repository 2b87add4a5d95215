"""`sockdeploy init`: first-time setup."""
