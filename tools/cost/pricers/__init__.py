"""One pricer per billable resource type: `(resource, context) -> line items`.

A pricer reads the resource's properties (and the resources they point at) from the template,
takes usage figures only from `context.usage` (the stage's `cost.*` settings) and prices only
from `context.table`; a configuration it cannot price honestly raises NotPriced naming the fix.
"""
