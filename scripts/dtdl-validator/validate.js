#!/usr/bin/env node
// Validates DTDL models with Microsoft's DTDLParser (the .NET parser compiled to WebAssembly,
// npm package @digicatapult/dtdl-parser), plus a strict mode of ours.
//
// Usage: node scripts/dtdl-validator/validate.js [options] FILE_OR_DIR...
//
//   FILE_OR_DIR        .json files, or directories searched recursively for .json files. A file
//                      holds one Interface or a JSON array of Interfaces (an IoT Central
//                      device-template export, {"@type": [..."DeviceModel"], "capabilityModel":
//                      {...}}, is unwrapped to its capability model).
//   --strict           also fail on undefined co-types (v2 accepts any unknown "@type" entry, so a
//                      misspelt semantic type such as "Temprature" passes the parser) and on the
//                      undefined properties such co-types let through.
//   --allow-iotc-terms with --strict: allow IoT Central's own template vocabulary (Cloud,
//                      StringValue, NumberValue, NamedInterface, GatewayDevice, Initialized, ...)
//                      and its display properties (displayUnit, decimalPlaces, minValue, ...).
//   --require-v2       fail on an Interface whose @context does not include dtmi:dtdl:context;2
//                      (the DTDL version IoT Central accepts).
//   --quiet            print only failures and the final line.
//   --self-check       instead of validating files: check that every negative sample in
//                      samples/invalid/ fails (for the reason samples/invalid/expected.tsv gives)
//                      and samples/valid/ passes; last line "self-check: N passed, M failed".
//
// All models are parsed together, so a Component's schema DTMI defined in another file resolves.
// When the set has errors, the models they belong to are set aside and the rest is parsed again,
// so every model gets its own verdict. The last line is "N models valid, M invalid".
// Exit code: 0 when every model is valid (and there is at least one), 1 when any is invalid or
// no model was found, 2 on bad usage or when the parser cannot be loaded.

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const PARSER_ENTRY = path.join(HERE, 'node_modules', '@digicatapult', 'dtdl-parser', 'build', 'index.js')

const DTDL_V2_CONTEXT = 'dtmi:dtdl:context;2'

// IoT Central's template vocabulary that is not in the public IoT Central DTDL extension, so the
// parser sees it as undefined co-types / properties (dtdl.md §9, §11.3, §11.4).
const IOTC_TYPES = new Set(['Cloud', 'StringValue', 'NumberValue', 'NamedInterface', 'GatewayDevice', 'Initialized'])
// Display hints of template properties, "durable" of queued commands, and the "name" of an
// inherited interface co-typed NamedInterface.
const IOTC_PROPERTIES = new Set(['displayUnit', 'decimalPlaces', 'minValue', 'maxValue', 'durable', 'name'])

function usage(message) {
  if (message) console.error(`validate.js: ${message}`)
  console.error(
    'usage: node validate.js [--strict] [--allow-iotc-terms] [--require-v2] [--quiet] FILE_OR_DIR...\n' +
      '       node validate.js --self-check'
  )
  process.exit(2)
}

function parseArgs(argv) {
  const options = { strict: false, allowIotcTerms: false, requireV2: false, quiet: false, selfCheck: false, paths: [] }
  for (const arg of argv) {
    switch (arg) {
      case '--strict':
        options.strict = true
        break
      case '--allow-iotc-terms':
        options.allowIotcTerms = true
        break
      case '--require-v2':
        options.requireV2 = true
        break
      case '--quiet':
        options.quiet = true
        break
      case '--self-check':
        options.selfCheck = true
        break
      case '-h':
      case '--help':
        usage()
        break
      default:
        if (arg.startsWith('--')) usage(`unknown option ${arg}`)
        options.paths.push(arg)
    }
  }
  if (options.selfCheck && options.paths.length > 0) usage('--self-check takes no FILE_OR_DIR')
  if (!options.selfCheck && options.paths.length === 0) usage('no FILE_OR_DIR given')
  if (options.allowIotcTerms && !options.strict) usage('--allow-iotc-terms needs --strict')
  return options
}

function findJsonFiles(target, out) {
  let stat
  try {
    stat = fs.statSync(target)
  } catch (e) {
    out.missing.push(target)
    return
  }
  if (stat.isDirectory()) {
    for (const entry of fs.readdirSync(target).sort()) {
      if (entry === 'node_modules' || entry.startsWith('.')) continue
      findJsonFiles(path.join(target, entry), out)
    }
  } else if (stat.isFile() && target.endsWith('.json')) {
    out.files.push(target)
  } else if (stat.isFile()) {
    out.ignored.push(target)
  }
}

function isDeviceTemplate(value) {
  const types = [].concat(value['@type'] ?? [])
  return value.capabilityModel && (types.includes('DeviceModel') || types.includes('ModelDefinition'))
}

// One "model" per top-level Interface object. Returns {models, errors} for one file.
function loadFile(file) {
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (e) {
    return { models: [], errors: [`cannot read: ${e.message}`] }
  }
  let json
  try {
    json = JSON.parse(text)
  } catch (e) {
    return { models: [], errors: [`invalid JSON: ${e.message}`] }
  }
  const items = Array.isArray(json) ? json : [json]
  const models = []
  const errors = []
  items.forEach((item, index) => {
    const where = Array.isArray(json) ? `${file}[${index}]` : file
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      errors.push(`${where}: not a JSON object`)
      return
    }
    let doc = item
    if (isDeviceTemplate(item)) {
      doc = { ...item.capabilityModel }
      if (doc['@context'] === undefined && item['@context'] !== undefined) doc['@context'] = item['@context']
    }
    const id = typeof doc['@id'] === 'string' ? doc['@id'] : `(no @id) ${where}`
    models.push({ id, where, doc, errors: [], ids: collectIds(doc) })
  })
  return { models, errors }
}

// Every explicit "@id" in a model (the interface's and those of nested elements).
function collectIds(value, out = new Set()) {
  if (Array.isArray(value)) {
    for (const v of value) collectIds(v, out)
  } else if (value !== null && typeof value === 'object') {
    if (typeof value['@id'] === 'string') out.add(value['@id'])
    for (const [k, v] of Object.entries(value)) if (k !== '@id') collectIds(v, out)
  }
  return out
}

// Every string value in a model (to find who references an undefined identifier).
function mentions(value, id) {
  if (typeof value === 'string') return value === id
  if (Array.isArray(value)) return value.some((v) => mentions(v, id))
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => k !== '@id' && mentions(v, id))
  }
  return false
}

// "dtmi:a:b:_contents:__x;1" -> {path: "dtmi:a:b:_contents:__x", version: "1"}
function splitDtmi(id) {
  const semi = id.lastIndexOf(';')
  return semi < 0 ? { path: id, version: '' } : { path: id.slice(0, semi), version: id.slice(semi + 1) }
}

// The model an element id belongs to: an explicit @id of the model, or an id the parser derived
// from one (it inserts ":_property:__name" segments before the version, dtdl.md §10).
function ownerOf(models, elementId) {
  if (typeof elementId !== 'string') return []
  const exact = models.filter((m) => m.ids.has(elementId))
  if (exact.length > 0) return exact
  const el = splitDtmi(elementId)
  let best = []
  let bestLength = -1
  for (const m of models) {
    for (const id of m.ids) {
      const base = splitDtmi(id)
      if (base.version === el.version && el.path.startsWith(`${base.path}:_`) && base.path.length >= bestLength) {
        if (base.path.length > bestLength) best = []
        bestLength = base.path.length
        if (!best.includes(m)) best.push(m)
      }
    }
  }
  return best
}

function describeParsingError(e) {
  const lines = [`[${e.ValidationID}] ${e.Cause}`]
  if (e.Action) lines.push(`    fix: ${e.Action}`)
  return lines
}

function parseSet(parser, models) {
  try {
    return { entities: JSON.parse(parser.parse(JSON.stringify(models.map((m) => m.doc)))) }
  } catch (e) {
    let failure
    try {
      failure = JSON.parse(e.message)
    } catch (_) {
      failure = null
    }
    if (failure && (failure.ExceptionKind === 'Parsing' || failure.ExceptionKind === 'Resolution')) {
      return { failure }
    }
    return { fatal: e instanceof Error ? e.message : String(e) }
  }
}

// Assigns the errors of a failed parse to models; returns the set of models that got one.
function attribute(failure, models, everyModel) {
  const failed = new Set()
  const unattributed = []
  if (failure.ExceptionKind === 'Parsing') {
    for (const error of failure.Errors ?? []) {
      let owners = ownerOf(models, error.PrimaryID)
      if (owners.length === 0) owners = ownerOf(models, error.SecondaryID)
      if (owners.length === 0) {
        unattributed.push(error)
        continue
      }
      for (const m of owners) {
        m.errors.push(...describeParsingError(error))
        failed.add(m)
      }
    }
  } else {
    for (const id of failure.UndefinedIdentifiers ?? []) {
      const setAside = everyModel.find((m) => !models.includes(m) && m.ids.has(id))
      const why = setAside
        ? `references ${id}, which is defined in ${setAside.where} but that model is invalid`
        : `references ${id}, which no given file defines`
      const owners = models.filter((m) => mentions(m.doc, id))
      if (owners.length === 0) {
        unattributed.push({ ValidationID: 'resolution', Cause: `undefined identifier ${id}` })
        continue
      }
      for (const m of owners) {
        m.errors.push(`[dtmi:dtdl:resolutionError:undefinedIdentifier] ${why}`)
        failed.add(m)
      }
    }
  }
  if (failed.size === 0) {
    // Errors the ids do not tie to a model: the whole remaining set fails with them.
    for (const m of models) {
      for (const error of unattributed) m.errors.push(...describeParsingError(error))
      if (unattributed.length === 0) m.errors.push('[parser] the set failed to parse without naming an error')
      failed.add(m)
    }
  } else if (unattributed.length > 0) {
    // Report them on every failing model rather than dropping them.
    for (const m of failed) for (const error of unattributed) m.errors.push(...describeParsingError(error))
  }
  return failed
}

function strictCheck(entities, models, options) {
  const byId = new Map()
  for (const m of models) byId.set(m.id, m)
  for (const [id, entity] of Object.entries(entities)) {
    const undefinedTypes = (entity.UndefinedTypes ?? []).filter(
      (t) => !(options.allowIotcTerms && IOTC_TYPES.has(t))
    )
    const undefinedProperties = Object.keys(entity.UndefinedProperties ?? {}).filter(
      (p) => !(options.allowIotcTerms && undefinedTypes.length === 0 && IOTC_PROPERTIES.has(p))
    )
    if (undefinedTypes.length === 0 && undefinedProperties.length === 0) continue
    let owners = entity.DefinedIn && byId.has(entity.DefinedIn) ? [byId.get(entity.DefinedIn)] : ownerOf(models, id)
    if (owners.length === 0 && byId.has(id)) owners = [byId.get(id)]
    if (owners.length === 0) owners = models
    for (const m of owners) {
      for (const t of undefinedTypes) {
        m.errors.push(
          `[strict:undefinedCoType] ${id} (${entity.EntityKind} '${entity.name ?? ''}') has co-type '${t}', which DTDL does not define (a misspelt semantic type?)`
        )
      }
      for (const p of undefinedProperties) {
        m.errors.push(
          `[strict:undefinedProperty] ${id} (${entity.EntityKind} '${entity.name ?? ''}') has property '${p}', which DTDL does not define (allowed only through an undefined co-type)`
        )
      }
    }
  }
}

function checkContext(model) {
  const context = [].concat(model.doc['@context'] ?? [])
  if (!context.includes(DTDL_V2_CONTEXT)) {
    model.errors.push(
      `[require-v2] @context is ${JSON.stringify(model.doc['@context'] ?? null)}, which does not include ${DTDL_V2_CONTEXT} (IoT Central takes DTDL v2)`
    )
  }
}

async function loadParser() {
  if (!fs.existsSync(PARSER_ENTRY)) {
    console.error(`validate.js: the DTDL parser is not installed (${PARSER_ENTRY} is missing);`)
    console.error('run scripts/dtdl-validator/run.sh, or npm install --no-package-lock in scripts/dtdl-validator')
    return null
  }
  try {
    const { getInterop } = await import(pathToFileURL(PARSER_ENTRY).href)
    return await getInterop()
  } catch (e) {
    console.error(`validate.js: cannot load the DTDL parser: ${e instanceof Error ? e.message : e}`)
    return null
  }
}

// Validates the models in `paths` as one set; prints through `print`; returns {valid, invalid}.
function validate(parser, paths, options, print) {
  const found = { files: [], missing: [], ignored: [] }
  for (const p of paths) findJsonFiles(p, found)

  const models = []
  let invalid = 0
  for (const p of found.missing) {
    print(`FAIL ${p}\n  no such file or directory`)
    invalid += 1
  }
  for (const file of found.files) {
    const loaded = loadFile(file)
    if (loaded.errors.length > 0) {
      print(`FAIL ${file}`)
      for (const e of loaded.errors) print(`  ${e}`)
      invalid += 1
    }
    models.push(...loaded.models)
  }

  if (options.requireV2) for (const m of models) checkContext(m)

  // Parse the set; set aside the models that errors point at; parse the rest again.
  let remaining = models.filter((m) => m.errors.length === 0)
  let entities = null
  while (remaining.length > 0) {
    const result = parseSet(parser, remaining)
    if (result.fatal !== undefined) {
      for (const m of remaining) m.errors.push(`[parser] ${result.fatal}`)
      break
    }
    if (result.entities) {
      entities = result.entities
      break
    }
    const failed = attribute(result.failure, remaining, models)
    remaining = remaining.filter((m) => !failed.has(m))
  }
  if (entities && options.strict) strictCheck(entities, remaining, options)

  let valid = 0
  for (const m of models) {
    if (m.errors.length === 0) {
      valid += 1
      if (!options.quiet) print(`ok   ${m.id}  (${m.where})`)
    } else {
      invalid += 1
      print(`FAIL ${m.id}  (${m.where})`)
      for (const e of m.errors) print(`  ${e}`)
    }
  }
  if (valid + invalid === 0) print('no DTDL model found in the given paths')
  return { valid, invalid }
}

// --self-check: every sample in samples/invalid/ must FAIL `--strict --require-v2` with the
// text that samples/invalid/expected.tsv gives it ("strict-only" ones must also pass without
// --strict), and samples/valid/ must pass `--strict --allow-iotc-terms --require-v2`. Proves that
// the validator (and its strict mode) is not passing everything.
function selfCheck(parser) {
  const dir = path.join(HERE, 'samples', 'invalid')
  const listed = new Set()
  let passed = 0
  let failed = 0
  const fail = (message, lines = []) => {
    console.log(`FAIL self-check: ${message}`)
    for (const line of lines) console.log(`    ${line}`)
    failed += 1
  }
  const run = (paths, options) => {
    const lines = []
    const counts = validate(parser, paths, { quiet: true, ...options }, (l) => lines.push(...l.split('\n')))
    return { ...counts, lines }
  }
  const tsv = fs.readFileSync(path.join(dir, 'expected.tsv'), 'utf8')
  for (const line of tsv.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue
    const [file, expected, mode] = line.split('\t')
    listed.add(file)
    const sample = path.join(dir, file)
    if (!fs.existsSync(sample) || !expected || !['strict-only', 'always'].includes(mode)) {
      fail(`bad line in expected.tsv (missing sample, text or mode): ${line}`)
      continue
    }
    const strict = run([sample], { strict: true, requireV2: true })
    if (strict.invalid === 0 || !strict.lines.some((l) => l.includes(expected))) {
      fail(`${file} should fail --strict with '${expected}'`, strict.lines)
      continue
    }
    if (mode === 'strict-only') {
      const lax = run([sample], { strict: false, requireV2: true })
      if (lax.invalid !== 0 || lax.valid === 0) {
        fail(`${file} should pass without --strict (it shows what the parser alone lets through)`, lax.lines)
        continue
      }
    }
    console.log(`ok   self-check: ${file} fails as expected (${expected}${mode === 'strict-only' ? ', only with --strict' : ''})`)
    passed += 1
  }
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    if (!listed.has(file)) fail(`samples/invalid/${file} has no line in expected.tsv`)
  }
  if (listed.size === 0) fail('samples/invalid/expected.tsv lists no sample')
  const good = run([path.join(HERE, 'samples', 'valid')], { strict: true, allowIotcTerms: true, requireV2: true })
  if (good.invalid !== 0 || good.valid === 0) {
    fail('samples/valid should pass --strict --allow-iotc-terms --require-v2', good.lines)
  } else {
    console.log(`ok   self-check: samples/valid passes (${good.valid} models)`)
    passed += 1
  }
  console.log(`self-check: ${passed} passed, ${failed} failed`)
  return failed === 0 ? 0 : 1
}

async function main() {
  const options = parseArgs(process.argv.slice(2))
  const parser = await loadParser()
  if (parser === null) return 2
  if (options.selfCheck) return selfCheck(parser)
  if (!options.quiet) console.log(`parser: ${parser.parserVersion()}`)
  const { valid, invalid } = validate(parser, options.paths, options, (line) => console.log(line))
  console.log(`${valid} models valid, ${invalid} invalid`)
  return invalid === 0 && valid > 0 ? 0 : 1
}

// The .NET runtime inside the parser keeps Node alive for seconds after the work is done: exit
// explicitly (stdout is synchronous for files and pipes on POSIX, so nothing printed is lost).
main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`validate.js: ${e instanceof Error ? e.stack : e}`)
    process.exit(2)
  }
)
