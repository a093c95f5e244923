CREATE TABLE "request_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"time" timestamp with time zone NOT NULL,
	"request_id" text NOT NULL,
	"user_id" text NOT NULL,
	"key_id" text,
	"team_id" text,
	"route" text NOT NULL,
	"model" text NOT NULL,
	"status" text NOT NULL,
	"prompt_tokens" integer NOT NULL,
	"cached_tokens" integer NOT NULL,
	"completion_tokens" integer NOT NULL,
	"reasoning_tokens" integer NOT NULL,
	"cost_nanos" bigint NOT NULL,
	"keyward_ms" integer NOT NULL,
	"upstream_ms" integer NOT NULL,
	"ttft_ms" integer,
	"stream" boolean NOT NULL,
	"content" jsonb
);
--> statement-breakpoint
ALTER TABLE "chat_usage" ADD COLUMN "cached_tokens" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "chat_usage" ADD COLUMN "reasoning_tokens" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "chat_usage" ADD COLUMN "cost_nanos" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "request_log_time_idx" ON "request_log" USING btree ("time","id");--> statement-breakpoint
CREATE INDEX "request_log_user_time_idx" ON "request_log" USING btree ("user_id","time");--> statement-breakpoint
CREATE INDEX "request_log_team_time_idx" ON "request_log" USING btree ("team_id","time");--> statement-breakpoint
CREATE INDEX "request_log_key_time_idx" ON "request_log" USING btree ("key_id","time");