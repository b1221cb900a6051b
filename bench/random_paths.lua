-- wrk script: readers spread over many pages. Every request asks for one of the paths given after "--",
-- chosen at random (each wrk thread with its own seed).
local next_number = 0

function setup(thread)
  thread:set("number", next_number)
  next_number = next_number + 1
end

function init(args)
  paths = args
  math.randomseed(os.time() * 100 + number)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
