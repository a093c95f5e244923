CREATE TABLE "journal_watermarks" (
	"journal" text PRIMARY KEY NOT NULL,
	"applied_seq" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
