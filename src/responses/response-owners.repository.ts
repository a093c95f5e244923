import { Injectable } from '@nestjs/common';
import { and, eq } from 'drizzle-orm';
import { DatabaseService } from '../database/database.service';
import { responseOwners } from '../database/schema';

export interface OwnedResponse {
  readonly contextTokens: number;
}

/** Which user created which upstream response (the `response_owners` table). */
@Injectable()
export class ResponseOwnersRepository {
  constructor(private readonly database: DatabaseService) {}

  /** Records a new response; an id already recorded keeps its owner. */
  async record(responseId: string, userId: string, model: string, contextTokens = 0) {
    await this.database.db
      .insert(responseOwners)
      .values({ responseId, userId, model, contextTokens })
      .onConflictDoNothing();
  }

  /** Once usage is known (a stream records the id first). */
  async setContextTokens(responseId: string, userId: string, contextTokens: number) {
    await this.database.db
      .update(responseOwners)
      .set({ contextTokens })
      .where(and(eq(responseOwners.responseId, responseId), eq(responseOwners.userId, userId)));
  }

  /** The response if `userId` created it; undefined for anyone else's or an unknown id. */
  async findOwned(responseId: string, userId: string): Promise<OwnedResponse | undefined> {
    const [row] = await this.database.db
      .select({ contextTokens: responseOwners.contextTokens })
      .from(responseOwners)
      .where(and(eq(responseOwners.responseId, responseId), eq(responseOwners.userId, userId)));
    return row;
  }

  async remove(responseId: string, userId: string): Promise<void> {
    await this.database.db
      .delete(responseOwners)
      .where(and(eq(responseOwners.responseId, responseId), eq(responseOwners.userId, userId)));
  }
}
