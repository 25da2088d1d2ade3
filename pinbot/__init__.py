"""The entry point: joins the app's core (`bot`) and its Slack listeners (`handlers`)."""
