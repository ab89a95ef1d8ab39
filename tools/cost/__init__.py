"""The monthly cost of a stage, read from its synthesized templates (`make cost`).

Every resource of every template is classified: billable, priced by a named pricer from the
pinned price table (`prices.json`), or free with a stated reason. A resource type that is
neither fails the estimate, naming the type and where to add it: a template that grows a
billable resource never prices it at a silent zero.

- ``templates``: the stacks of a `cdk.out` folder and their resources (no CDK import)
- ``price_table``: the pinned, dated price table (`prices.json`) and its region check
- ``model``: line items, the estimate, the pricing context
- ``classify``: which type is billable (and by which pricer) and which is free (and why)
- ``pricers/``: one function per billable resource type
- ``estimate``: templates + prices + the stage's usage assumptions -> itemized estimate
- ``render_plans``: the Render Blueprint's plans for the same shape
- ``report``: the estimate as a terminal table and as the generated docs page
- ``synth``: `cdk synth` of a stage the way `make synth` runs it
- ``refresh``: `make prices`, from AWS's public Price List bulk API
"""
