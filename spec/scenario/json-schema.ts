// The JSON Schema of the scenario format, generated from the zod schema (never hand-edited).
import { z } from 'zod';
import { ScenarioSchema } from './schema.ts';

/**
 * The file: URL of the committed schema (shipped scenario files name it by a path relative to themselves). A string,
 * so the shipped declarations need no Node types.
 */
export const SCENARIO_SCHEMA_URL: string = new URL('./scenario.schema.json', import.meta.url).href;

export function scenarioJsonSchema(): string {
  const schema = z.toJSONSchema(ScenarioSchema, {
    io: 'input',
    target: 'draft-2020-12',
    override: (ctx) => {
      // A tagged union (steps by `op`, protocol by `kind`): each branch is a `oneOf` member whose tag is a required
      // `const`, which every draft-2020-12 validator and VS Code narrow by; OpenAPI's `discriminator` on top names the
      // tag for tools that know it (ajv with `discriminator: true`, code generators).
      const def = ctx.zodSchema._zod.def;
      if (def.type === 'union' && 'discriminator' in def && typeof def.discriminator === 'string')
        ctx.jsonSchema.discriminator = { propertyName: def.discriminator };
    },
  });
  const withId = { $id: 'https://hibfuzz.dev/schema/scenario-v1.json', title: 'hibfuzz scenario v1', ...schema };
  return `${JSON.stringify(withId, null, 2)}\n`;
}
