-- Argo CD health of a modelops.dev ModelService (resource.customizations.health.modelops.dev_ModelService).
-- Reads what the operator writes: status.observedGeneration, status.phase and the conditions
-- Ready, Progressing, Degraded and UpToDate (kstatus-compatible, so Flux needs no script).
--   Degraded:    phase RolledBack, Degraded, Failed or Conflict (a failed version stays
--                Degraded until the spec asks for another one)
--   Suspended:   spec.paused, or `modelops pause` (annotation modelops.dev/pause naming the
--                running canary)
--   Healthy:     Ready and UpToDate True, for the current generation
--   Progressing: otherwise (not yet observed, a rollout under way, replicas not ready yet)
local hs = {}
local status = obj.status or {}
local spec = obj.spec or {}
local annotations = (obj.metadata or {}).annotations or {}

local function condition(kind)
  for _, c in ipairs(status.conditions or {}) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function is_true(kind)
  local c = condition(kind)
  return c ~= nil and c.status == "True"
end

local function message(default)
  if status.message ~= nil and status.message ~= "" then
    return status.message
  end
  return default
end

local generation = (obj.metadata or {}).generation
if status.observedGeneration == nil or (generation ~= nil and status.observedGeneration ~= generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local phase = status.phase
if phase == "RolledBack" or phase == "Degraded" or phase == "Failed" or phase == "Conflict" then
  hs.status = "Degraded"
  local degraded = condition("Degraded")
  hs.message = message(phase .. ((degraded and degraded.message and (": " .. degraded.message)) or ""))
  return hs
end

local by_annotation = status.canaryRevision ~= nil and annotations["modelops.dev/pause"] == status.canaryRevision
if spec.paused == true or by_annotation then
  hs.status = "Suspended"
  hs.message = message("Rollout paused")
  return hs
end

if phase == "Progressing" then
  hs.status = "Progressing"
  hs.message = message("Rollout in progress")
  return hs
end

if is_true("Ready") and is_true("UpToDate") then
  hs.status = "Healthy"
  hs.message = message("Serving " .. tostring(status.stableVersion or ""))
  return hs
end

hs.status = "Progressing"
hs.message = message("Waiting for the ModelService to become ready")
return hs
