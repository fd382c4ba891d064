import { readFileSync } from 'node:fs';
import { GUIDE_FILE, guideSections, readSample, sectionInGuide } from '../../scripts/docs/kda-guide';
import { kdaSample } from '../../scripts/docs/kda-sample';

describe('docs/migrating-from-kda-sql.md', () => {
  test('the committed sample is the seeded one', () => {
    expect(readSample()).toStrictEqual(kdaSample().map((e) => JSON.stringify(e)));
  });

  test('every generated section holds what the script produces today (run `npx tsx scripts/docs/kda-guide.ts --write`)', async () => {
    const guide = readFileSync(GUIDE_FILE, 'utf8');
    const sections = await guideSections();
    expect(sections.size).toBe(6);
    for (const [name, text] of sections) expect({ name, text: sectionInGuide(guide, name) }).toStrictEqual({ name, text });
  });
});
