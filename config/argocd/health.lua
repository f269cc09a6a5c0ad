-- Argo CD health check for orderflow.io/Order.
-- Install it under resource.customizations.health.orderflow.io_Order in the
-- argocd-cm ConfigMap (docs/gitops.md shows how).
local hs = {}
if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to pick up the order"
  return hs
end
if obj.metadata ~= nil and obj.metadata.generation ~= nil and
   (obj.status.observedGeneration == nil or obj.status.observedGeneration < obj.metadata.generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe the latest spec"
  return hs
end
local phase = obj.status.phase
-- A change of the spec the order refused (an amendment after the payment,
-- out of stock, ...) leaves Stalled True until the spec is put back.
if obj.status.conditions ~= nil and phase ~= "Failed" and phase ~= "Cancelled" then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Stalled" and c.status == "True" then
      hs.status = "Degraded"
      hs.message = "Change refused"
      if c.reason ~= nil then
        hs.message = hs.message .. " (" .. c.reason .. ")"
      end
      if c.message ~= nil then
        hs.message = hs.message .. ": " .. c.message
      end
      return hs
    end
  end
end
if phase == "Completed" then
  hs.status = "Healthy"
  hs.message = "Order completed"
  if obj.status.total ~= nil then
    hs.message = hs.message .. ", total " .. obj.status.total
  end
elseif phase == "Failed" or phase == "Cancelled" then
  hs.status = "Degraded"
  hs.message = phase
  if obj.status.reason ~= nil then
    hs.message = hs.message .. " (" .. obj.status.reason .. ")"
  end
  if obj.status.message ~= nil then
    hs.message = hs.message .. ": " .. obj.status.message
  end
else
  hs.status = "Progressing"
  hs.message = phase
  if obj.status.step ~= nil then
    hs.message = hs.message .. ", last step " .. obj.status.step
  end
end
return hs
