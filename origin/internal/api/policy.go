package api

// privacyPolicy is the text of /privacy. Keep it true: every sentence here
// is a claim about the code and the deployment, and a change to what is
// stored or logged changes this text in the same commit.
var privacyPolicy = Policy{
	Title:   "picket privacy policy",
	Version: "2026-12-04",
	Summary: "picket is built so that it knows as little about you as it can. You sign up " +
		"with a passkey and a pseudonym you choose. We never ask for an email address, a " +
		"phone number or your name, and the server cannot list the members of a union.",
	Sections: []Section{
		{
			Heading: "What we never collect",
			Paragraphs: []string{
				"No email address, phone number, real name, contact list, location or " +
					"device identifier. We set no cookies and use no analytics or " +
					"third-party scripts; our pages run no JavaScript at all.",
				"Our logs never contain your IP address, your user agent, your cookies, " +
					"your authorization header, your pseudonym, your account id or what you " +
					"sent. The gateway removes forwarded-address headers before a request " +
					"reaches the origin server.",
			},
		},
		{
			Heading: "What we store about your account",
			Paragraphs: []string{
				"A random account id, a random passkey user handle, and the pseudonym you " +
					"chose (you can change it).",
				"For each of your passkeys: its credential id and public key, its signature " +
					"counter, whether it can be and is backed up (synced), the attestation " +
					"format, and when it was added. The private key never leaves your device.",
				"For each session: a hash of the session token (never the token itself), " +
					"when it was created and when it expires (30 days). You can list and " +
					"revoke your sessions; logging out deletes the session.",
				"While you sign up or log in, the challenge for that ceremony (and, for a " +
					"sign-up, the pseudonym) is kept for at most 5 minutes and is deleted " +
					"when used or expired.",
			},
		},
		{
			Heading: "Unions and memberships",
			Paragraphs: []string{
				"A union's name, short name and description are public.",
				"Your membership is stored as a keyed hash of your account and the union, " +
					"made with a secret key that is kept apart from the databases. With it " +
					"the server can answer \"is this account a member of this union?\"; " +
					"without it, the membership records reveal no member. The server keeps " +
					"no list of members and no endpoint returns one, to anyone.",
				"Union admins see counts only: members, posts, reports and ballots.",
				"The list of unions you belong to, as the app shows it to you, is " +
					"encrypted on your device before it is sent. We store it and give it " +
					"back to you; we cannot read it.",
			},
		},
		{
			Heading: "Posts and reports",
			Paragraphs: []string{
				"Posts are public and show the pseudonym you had when you wrote them. A " +
					"post is stored with that pseudonym, not with your account id.",
				"When a post is reported we add one to its report count. Who reported it " +
					"is not stored.",
			},
		},
		{
			Heading: "Voting",
			Paragraphs: []string{
				"A ballot's question, options, opening and closing times and, once " +
					"allowed, its counts are public. Admins see the same counts, plus how " +
					"many tokens were issued and how many votes were cast.",
				"In a simple ballot we store, apart from each other, a keyed hash of your " +
					"account and the ballot (so that you vote once) and your choice with no " +
					"account id. While you vote, the server sees both together.",
				"In an unlinkable ballot you get a token the server signs without seeing " +
					"it (an RSA blind signature), and you vote with the token and no " +
					"session. We store a keyed hash of your account and the ballot with a " +
					"hash of the blinded request, and, separately, each vote's random " +
					"nullifier and choice. No time is stored with either. Nobody, us " +
					"included, can tell from these records which member cast which vote.",
			},
		},
		{
			Heading: "Logs and how long they are kept",
			Paragraphs: []string{
				"For each request the origin server logs a random request id, the route " +
					"pattern (for example \"GET /unions/{slug}\", never the actual path), " +
					"the method, the status code and how long it took.",
				"For the transparency report we record events such as \"a post was " +
					"created\" or \"a post was reported\" with a time and nothing else. " +
					"Events are deleted after 24 hours.",
			},
		},
		{
			Heading: "Where the data lives",
			Paragraphs: []string{
				"The origin keeps three separate PostgreSQL databases: content (accounts, " +
					"passkeys, sessions, unions, posts and the 24-hour event log), " +
					"membership (the keyed membership hashes and the encrypted lists) and " +
					"ballot (ballots, token issuances and votes). Each has its own database role, and none of these roles can " +
					"open the other two databases.",
			},
		},
		{
			Heading: "What we can and cannot see",
			Paragraphs: []string{
				"We can see: how many members a union has, the public posts, your " +
					"pseudonym and your passkeys' public data, and, while you are signed " +
					"in, which account makes a request.",
				"We cannot see: who you are, your IP address (it is never logged), the " +
					"contents of your encrypted list of unions, or a list of a union's " +
					"members. Someone who steals a database copy without the separate key " +
					"learns no memberships.",
			},
		},
		{
			Heading: "Deleting your account",
			Paragraphs: []string{
				"Deleting your account removes it, its passkeys and its sessions at once. " +
					"Leave your unions before you delete it: the server cannot find your " +
					"membership records without knowing which unions to look in. Posts you " +
					"wrote stay public under the pseudonym they show.",
			},
		},
		{
			Heading: "Reaching us over Tor",
			Paragraphs: []string{
				"picket can be reached as an onion service. Public pages work without " +
					"JavaScript, so they can be read in Tor Browser at its Safest level.",
			},
		},
	},
}
