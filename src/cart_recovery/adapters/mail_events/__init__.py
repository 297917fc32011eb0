"""Mail providers' bounce and complaint webhooks: each checks its own signature and normalises
what it reports into ``MailFeedback`` (SES through SNS, Postmark, SendGrid, Mailgun)."""
